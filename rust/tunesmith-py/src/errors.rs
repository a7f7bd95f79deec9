//! Maps `CoreError` onto the exception classes of `tunesmith.errors`, which
//! subclass the stdlib exceptions users already catch (`ValueError`, ...).

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use tunesmith_core::CoreError;

fn tunesmith_error(py: Python<'_>, class: &str, message: String) -> PyErr {
    let made = py
        .import("tunesmith.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((message.clone(),)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(_) => PyValueError::new_err(message),
    }
}

pub fn to_pyerr(py: Python<'_>, err: CoreError) -> PyErr {
    let class = match err {
        CoreError::InvalidArgument { .. } | CoreError::Broadcast { .. } => "ArgumentError",
        CoreError::Json { .. } => "InputError",
    };
    tunesmith_error(py, class, err.to_string())
}

pub fn type_error(message: String) -> PyErr {
    PyTypeError::new_err(message)
}

pub fn overflow_error(message: String) -> PyErr {
    PyOverflowError::new_err(message)
}
