//! Argument extraction that names the argument in every error, and keeps the
//! stdlib exception kinds: a float where an integer is meant is a `TypeError`,
//! an integer the seed's type cannot hold is an `OverflowError`.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::errors::{overflow_error, type_error};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_string(), |n| n.to_string())
}

/// An unsigned integer argument of Rust type `T` (`u8`, `u32`, `u64`).
pub fn uint<T>(obj: &Bound<'_, PyAny>, name: &str, rust_type: &str, max: u64) -> PyResult<T>
where
    T: TryFrom<u64>,
{
    let is_integer = obj.is_instance_of::<PyInt>() || obj.hasattr("__index__").unwrap_or(false);
    if obj.is_instance_of::<PyFloat>() || !is_integer {
        return Err(type_error(format!(
            "{name} must be an integer ({rust_type}), got {}",
            type_name(obj)
        )));
    }
    let out_of_range = || {
        let shown = obj.repr().map_or_else(|_| "?".to_string(), |r| r.to_string());
        overflow_error(format!(
            "{name}={shown} does not fit in {rust_type} (0..={max})"
        ))
    };
    let value: u64 = obj.extract().map_err(|_| out_of_range())?;
    T::try_from(value).map_err(|_| out_of_range())
}

/// A floating-point argument stored as `f32`, converted as Rust's `as f32` does
/// (round to nearest, out-of-range values become infinities).
#[allow(clippy::cast_possible_truncation)]
pub fn f32_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f32> {
    if obj.is_instance_of::<PyBool>() {
        return Err(type_error(format!("{name} must be a number (f32), got bool")));
    }
    let value: f64 = obj
        .extract()
        .map_err(|_| type_error(format!("{name} must be a number (f32), got {}", type_name(obj))))?;
    Ok(value as f32)
}
