//! Adapters for the accurate estimator's column form (`tunesmith.estimate.sweep`).

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use tunesmith_core::estimate::memory::{self, JobColumns, Plan};

use crate::errors::to_pyerr;
use crate::gil::detached;

/// The estimator over job columns for one model plan (`memory.make_plan(...).as_list()`).
///
/// Returns the output columns in `memory._OUT_FIELDS` order (`None` where the bit of `outputs`
/// is clear). Each input column is of length 1 (broadcast) or the common length.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn estimate_memory_columns<'py>(
    py: Python<'py>,
    plan: Vec<f64>,
    batch_size: PyReadonlyArray1<'py, u32>,
    seq_len: PyReadonlyArray1<'py, u32>,
    rank: PyReadonlyArray1<'py, u32>,
    checkpointing: PyReadonlyArray1<'py, u8>,
    attention: PyReadonlyArray1<'py, u8>,
    precision: PyReadonlyArray1<'py, u8>,
    optimizer: PyReadonlyArray1<'py, u8>,
    adamw_impl: PyReadonlyArray1<'py, u8>,
    num_devices: PyReadonlyArray1<'py, u32>,
    sharding: PyReadonlyArray1<'py, u8>,
    grad_accum: PyReadonlyArray1<'py, u32>,
    outputs: u32,
) -> PyResult<Vec<Option<Bound<'py, PyArray1<f64>>>>> {
    let plan = Plan::from_slice(&plan).map_err(|e| to_pyerr(py, e))?;
    let cols = JobColumns {
        batch_size: batch_size.as_slice()?,
        seq_len: seq_len.as_slice()?,
        rank: rank.as_slice()?,
        checkpointing: checkpointing.as_slice()?,
        attention: attention.as_slice()?,
        precision: precision.as_slice()?,
        optimizer: optimizer.as_slice()?,
        adamw_impl: adamw_impl.as_slice()?,
        num_devices: num_devices.as_slice()?,
        sharding: sharding.as_slice()?,
        grad_accum: grad_accum.as_slice()?,
    };
    let out = detached(py, || memory::sweep(&plan, &cols, outputs)).map_err(|e| to_pyerr(py, e))?;
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(k, c)| (outputs & (1 << k) != 0).then(|| c.into_pyarray(py)))
        .collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(estimate_memory_columns, m)?)?;
    Ok(())
}
