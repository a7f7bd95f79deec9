//! `tunesmith._core`: PyO3 adapters over `tunesmith-core`.
//!
//! Adapters only: extract arguments (naming them in errors), release the GIL
//! for the real work (see [`gil`]), convert results. Users import the
//! re-exports in `tunesmith`, never this module.

mod args;
mod clean;
mod distributed;
mod errors;
mod estimate_py;
mod gil;
mod scan;
mod seed;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "build_profile",
        if cfg!(debug_assertions) { "debug" } else { "release" },
    )?;
    m.add_function(wrap_pyfunction!(gil::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(gil::get_num_threads, m)?)?;
    seed::register(m)?;
    estimate_py::register(m)?;
    clean::register(m)?;
    scan::register(m)?;
    distributed::register(m)?;
    Ok(())
}
