//! Python classes for the exact seed heuristics: `FineTuneMethod`,
//! `TrainingMethod`, `TrainingTarget`, `AcceleratorRequirement`,
//! `MemoryEstimate`, and the scalar and column forms of
//! `estimate_training_memory`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1};
use pyo3::basic::CompareOp;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use serde::{de::DeserializeOwned, Serialize};
use tunesmith_core::estimate::{
    estimate_training_memory, sweep, AcceleratorRequirement, FineTuneMethod, MemoryEstimate,
    TrainingMethod, TrainingTarget,
};
use tunesmith_core::CoreError;

use crate::args::{f32_arg, uint};
use crate::errors::to_pyerr;
use crate::gil::detached;

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain enums/structs cannot fail (no maps with non-string keys).
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: DeserializeOwned>(py: Python<'_>, text: &str, type_name: &str) -> PyResult<T> {
    serde_json::from_str(text).map_err(|e| {
        to_pyerr(
            py,
            CoreError::Json {
                type_name: type_name.to_string(),
                message: e.to_string(),
            },
        )
    })
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

fn reduce<'py>(slf: &Bound<'py, PyAny>, json: String) -> PyResult<Bound<'py, PyTuple>> {
    let from_json = slf.get_type().getattr("from_json")?;
    PyTuple::new(slf.py(), [from_json.into_any(), PyTuple::new(slf.py(), [json])?.into_any()])
}

// ---------------------------------------------------------------- FineTuneMethod

#[pyclass(name = "FineTuneMethod", module = "tunesmith", frozen)]
#[derive(Clone)]
pub struct PyFineTuneMethod {
    pub inner: FineTuneMethod,
}

fn u32_rank(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    uint::<u32>(obj, "rank", "u32", u64::from(u32::MAX))
}

fn u8_bits(obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    uint::<u8>(obj, "bits", "u8", u64::from(u8::MAX))
}

#[pymethods]
impl PyFineTuneMethod {
    /// LoRA with `alpha = rank`.
    #[staticmethod]
    fn lora(rank: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self { inner: FineTuneMethod::lora(u32_rank(rank)?) })
    }

    /// QLoRA with 4-bit base weights.
    #[staticmethod]
    fn qlora(rank: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self { inner: FineTuneMethod::qlora(u32_rank(rank)?) })
    }

    /// `LoRA { rank, alpha }`; `alpha` defaults to `rank` as in `lora(rank)`.
    #[staticmethod]
    #[pyo3(name = "LoRA", signature = (rank, alpha = None))]
    fn lora_variant(rank: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let rank = u32_rank(rank)?;
        Ok(Self {
            inner: match alpha {
                Some(a) => FineTuneMethod::LoRA { rank, alpha: f32_arg(a, "alpha")? },
                None => FineTuneMethod::lora(rank),
            },
        })
    }

    /// `QLoRA { rank, bits }`; `bits` defaults to 4 as in `qlora(rank)`.
    #[staticmethod]
    #[pyo3(name = "QLoRA", signature = (rank, bits = None))]
    fn qlora_variant(rank: &Bound<'_, PyAny>, bits: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let rank = u32_rank(rank)?;
        let bits = match bits {
            Some(b) => u8_bits(b)?,
            None => 4,
        };
        Ok(Self { inner: FineTuneMethod::QLoRA { rank, bits } })
    }

    #[classattr]
    #[pyo3(name = "Adapter")]
    fn adapter() -> Self {
        Self { inner: FineTuneMethod::Adapter }
    }
    #[classattr]
    #[pyo3(name = "Prefix")]
    fn prefix() -> Self {
        Self { inner: FineTuneMethod::Prefix }
    }
    #[classattr]
    #[pyo3(name = "IA3")]
    fn ia3() -> Self {
        Self { inner: FineTuneMethod::IA3 }
    }
    #[classattr]
    #[pyo3(name = "Full")]
    fn full() -> Self {
        Self { inner: FineTuneMethod::Full }
    }

    /// The variant name: `"LoRA"`, `"QLoRA"`, `"Adapter"`, `"Prefix"`, `"IA3"` or `"Full"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            FineTuneMethod::LoRA { .. } => "LoRA",
            FineTuneMethod::QLoRA { .. } => "QLoRA",
            FineTuneMethod::Adapter => "Adapter",
            FineTuneMethod::Prefix => "Prefix",
            FineTuneMethod::IA3 => "IA3",
            FineTuneMethod::Full => "Full",
        }
    }
    #[getter]
    fn rank(&self) -> Option<u32> {
        match self.inner {
            FineTuneMethod::LoRA { rank, .. } | FineTuneMethod::QLoRA { rank, .. } => Some(rank),
            _ => None,
        }
    }
    /// LoRA's alpha as the f32 the seed stores, widened exactly to a Python float.
    #[getter]
    fn alpha(&self) -> Option<f64> {
        match self.inner {
            FineTuneMethod::LoRA { alpha, .. } => Some(f64::from(alpha)),
            _ => None,
        }
    }
    #[getter]
    fn bits(&self) -> Option<u8> {
        match self.inner {
            FineTuneMethod::QLoRA { bits, .. } => Some(bits),
            _ => None,
        }
    }

    fn memory_reduction_factor(&self) -> f64 {
        self.inner.memory_reduction_factor()
    }
    fn trainable_params_percent(&self) -> f64 {
        self.inner.trainable_params_percent()
    }
    fn memory_multiplier(&self) -> f64 {
        self.inner.memory_multiplier()
    }
    fn training_speedup(&self) -> f64 {
        self.inner.training_speedup()
    }
    fn quality_retention(&self) -> f64 {
        self.inner.quality_retention()
    }
    fn batch_size_multiplier(&self) -> f64 {
        self.inner.batch_size_multiplier()
    }

    /// serde's externally tagged JSON, e.g. `{"LoRA":{"rank":8,"alpha":8.0}}` or `"Adapter"`.
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }
    #[classmethod]
    fn from_json(_cls: &Bound<'_, pyo3::types::PyType>, py: Python<'_>, text: &str) -> PyResult<Self> {
        Ok(Self { inner: from_json(py, text, "FineTuneMethod")? })
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        match self.inner {
            FineTuneMethod::LoRA { rank, alpha } => {
                format!("FineTuneMethod.LoRA(rank={rank}, alpha={})", py_float_repr(f64::from(alpha)))
            }
            FineTuneMethod::QLoRA { rank, bits } => format!("FineTuneMethod.QLoRA(rank={rank}, bits={bits})"),
            _ => format!("FineTuneMethod.{}", self.kind()),
        }
    }
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        richcmp(other.py(), other.extract::<PyRef<'_, Self>>().ok().map(|o| self.inner == o.inner), op)
    }
    fn __hash__(&self) -> u64 {
        match self.inner {
            FineTuneMethod::LoRA { rank, alpha } => hash_of(&(0u8, rank, alpha.to_bits())),
            FineTuneMethod::QLoRA { rank, bits } => hash_of(&(1u8, rank, bits)),
            ref other => hash_of(&other.to_string()),
        }
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let json = slf.get().to_json();
        reduce(slf.as_any(), json)
    }
}

/// Python's `repr(float)` for finite values, `inf`/`nan` spelled as `float(...)` so repr evals.
fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        "float('nan')".into()
    } else if x.is_infinite() {
        if x > 0.0 { "float('inf')".into() } else { "float('-inf')".into() }
    } else {
        let s = format!("{x:?}");
        s
    }
}


/// `==`/`!=` by value; other comparisons and foreign types give `NotImplemented`.
fn richcmp(py: Python<'_>, equal: Option<bool>, op: CompareOp) -> Py<PyAny> {
    let result = match (equal, op) {
        (Some(eq), CompareOp::Eq) => eq,
        (Some(eq), CompareOp::Ne) => !eq,
        _ => return py.NotImplemented(),
    };
    pyo3::types::PyBool::new(py, result).to_owned().into_any().unbind()
}

// ---------------------------------------------------------------- AcceleratorRequirement

#[pyclass(name = "AcceleratorRequirement", module = "tunesmith", frozen)]
#[derive(Clone)]
pub struct PyAcceleratorRequirement {
    pub inner: AcceleratorRequirement,
}

#[pymethods]
impl PyAcceleratorRequirement {
    /// Default: `None` (CPU is sufficient).
    #[new]
    fn new() -> Self {
        Self { inner: AcceleratorRequirement::default() }
    }
    /// The `None` variant (`None` is a Python keyword, hence the underscore).
    #[classattr]
    #[pyo3(name = "None_")]
    fn none() -> Self {
        Self { inner: AcceleratorRequirement::None }
    }
    #[classattr]
    #[pyo3(name = "Gpu")]
    fn gpu() -> Self {
        Self { inner: AcceleratorRequirement::Gpu }
    }
    #[staticmethod]
    #[pyo3(name = "Tpu")]
    fn tpu(min_chips: &Bound<'_, PyAny>) -> PyResult<Self> {
        let min_chips = uint::<u32>(min_chips, "min_chips", "u32", u64::from(u32::MAX))?;
        Ok(Self { inner: AcceleratorRequirement::Tpu { min_chips } })
    }
    #[classattr]
    #[pyo3(name = "Gaudi")]
    fn gaudi() -> Self {
        Self { inner: AcceleratorRequirement::Gaudi }
    }
    #[classattr]
    #[pyo3(name = "AwsNeuron")]
    fn aws_neuron() -> Self {
        Self { inner: AcceleratorRequirement::AwsNeuron }
    }
    #[classattr]
    #[pyo3(name = "GpuOrTpu")]
    fn gpu_or_tpu() -> Self {
        Self { inner: AcceleratorRequirement::GpuOrTpu }
    }
    #[classattr]
    #[pyo3(name = "AnyAccelerator")]
    fn any_accelerator() -> Self {
        Self { inner: AcceleratorRequirement::AnyAccelerator }
    }
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            AcceleratorRequirement::None => "None",
            AcceleratorRequirement::Gpu => "Gpu",
            AcceleratorRequirement::Tpu { .. } => "Tpu",
            AcceleratorRequirement::Gaudi => "Gaudi",
            AcceleratorRequirement::AwsNeuron => "AwsNeuron",
            AcceleratorRequirement::GpuOrTpu => "GpuOrTpu",
            AcceleratorRequirement::AnyAccelerator => "AnyAccelerator",
        }
    }
    #[getter]
    fn min_chips(&self) -> Option<u32> {
        match self.inner {
            AcceleratorRequirement::Tpu { min_chips } => Some(min_chips),
            _ => None,
        }
    }
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }
    #[classmethod]
    fn from_json(_cls: &Bound<'_, pyo3::types::PyType>, py: Python<'_>, text: &str) -> PyResult<Self> {
        Ok(Self { inner: from_json(py, text, "AcceleratorRequirement")? })
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        match self.inner {
            AcceleratorRequirement::None => "AcceleratorRequirement.None_".into(),
            AcceleratorRequirement::Tpu { min_chips } => format!("AcceleratorRequirement.Tpu(min_chips={min_chips})"),
            _ => format!("AcceleratorRequirement.{}", self.kind()),
        }
    }
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        richcmp(other.py(), other.extract::<PyRef<'_, Self>>().ok().map(|o| self.inner == o.inner), op)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.inner)
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let json = slf.get().to_json();
        reduce(slf.as_any(), json)
    }
}

// ---------------------------------------------------------------- TrainingMethod

#[pyclass(name = "TrainingMethod", module = "tunesmith", frozen)]
#[derive(Clone)]
pub struct PyTrainingMethod {
    pub inner: TrainingMethod,
}

#[pymethods]
impl PyTrainingMethod {
    /// Default: `FullFineTune`.
    #[new]
    fn new() -> Self {
        Self { inner: TrainingMethod::default() }
    }
    #[classattr]
    #[pyo3(name = "FullFineTune")]
    fn full_fine_tune() -> Self {
        Self { inner: TrainingMethod::FullFineTune }
    }
    #[classattr]
    #[pyo3(name = "LoRA")]
    fn lora() -> Self {
        Self { inner: TrainingMethod::LoRA }
    }
    /// `QLoRA { bits }`; `bits` defaults to 4.
    #[staticmethod]
    #[pyo3(name = "QLoRA", signature = (bits = None))]
    fn qlora(bits: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let bits = match bits {
            Some(b) => u8_bits(b)?,
            None => 4,
        };
        Ok(Self { inner: TrainingMethod::QLoRA { bits } })
    }
    #[classattr]
    #[pyo3(name = "Prefix")]
    fn prefix() -> Self {
        Self { inner: TrainingMethod::Prefix }
    }
    #[classattr]
    #[pyo3(name = "DPO")]
    fn dpo() -> Self {
        Self { inner: TrainingMethod::DPO }
    }
    #[classattr]
    #[pyo3(name = "RLHF")]
    fn rlhf() -> Self {
        Self { inner: TrainingMethod::RLHF }
    }
    #[classattr]
    #[pyo3(name = "Distillation")]
    fn distillation() -> Self {
        Self { inner: TrainingMethod::Distillation }
    }
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            TrainingMethod::FullFineTune => "FullFineTune",
            TrainingMethod::LoRA => "LoRA",
            TrainingMethod::QLoRA { .. } => "QLoRA",
            TrainingMethod::Prefix => "Prefix",
            TrainingMethod::DPO => "DPO",
            TrainingMethod::RLHF => "RLHF",
            TrainingMethod::Distillation => "Distillation",
        }
    }
    #[getter]
    fn bits(&self) -> Option<u8> {
        match self.inner {
            TrainingMethod::QLoRA { bits } => Some(bits),
            _ => None,
        }
    }
    /// `(kind, bits)` as used by the column sweep.
    fn code(&self) -> (u8, u8) {
        self.inner.code()
    }
    fn preferred_accelerator(&self) -> PyAcceleratorRequirement {
        PyAcceleratorRequirement { inner: self.inner.preferred_accelerator() }
    }
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }
    #[classmethod]
    fn from_json(_cls: &Bound<'_, pyo3::types::PyType>, py: Python<'_>, text: &str) -> PyResult<Self> {
        Ok(Self { inner: from_json(py, text, "TrainingMethod")? })
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        match self.inner {
            TrainingMethod::QLoRA { bits } => format!("TrainingMethod.QLoRA(bits={bits})"),
            _ => format!("TrainingMethod.{}", self.kind()),
        }
    }
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        richcmp(other.py(), other.extract::<PyRef<'_, Self>>().ok().map(|o| self.inner == o.inner), op)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.inner)
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let json = slf.get().to_json();
        reduce(slf.as_any(), json)
    }
}

// ---------------------------------------------------------------- TrainingTarget

#[pyclass(name = "TrainingTarget", module = "tunesmith", frozen)]
#[derive(Clone)]
pub struct PyTrainingTarget {
    pub inner: TrainingTarget,
}

#[pymethods]
impl PyTrainingTarget {
    /// Default: `Gpu`.
    #[new]
    fn new() -> Self {
        Self { inner: TrainingTarget::default() }
    }
    #[classattr]
    #[pyo3(name = "Gpu")]
    fn gpu() -> Self {
        Self { inner: TrainingTarget::Gpu }
    }
    #[classattr]
    #[pyo3(name = "Tpu")]
    fn tpu() -> Self {
        Self { inner: TrainingTarget::Tpu }
    }
    #[classattr]
    #[pyo3(name = "Gaudi")]
    fn gaudi() -> Self {
        Self { inner: TrainingTarget::Gaudi }
    }
    #[classattr]
    #[pyo3(name = "Cpu")]
    fn cpu() -> Self {
        Self { inner: TrainingTarget::Cpu }
    }
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner {
            TrainingTarget::Gpu => "Gpu",
            TrainingTarget::Tpu => "Tpu",
            TrainingTarget::Gaudi => "Gaudi",
            TrainingTarget::Cpu => "Cpu",
        }
    }
    fn code(&self) -> u8 {
        self.inner.code()
    }
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }
    #[classmethod]
    fn from_json(_cls: &Bound<'_, pyo3::types::PyType>, py: Python<'_>, text: &str) -> PyResult<Self> {
        Ok(Self { inner: from_json(py, text, "TrainingTarget")? })
    }
    /// The seed derives `Debug` only, so the variant name stands in for `Display`.
    fn __str__(&self) -> &'static str {
        self.kind()
    }
    fn __repr__(&self) -> String {
        format!("TrainingTarget.{}", self.kind())
    }
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        richcmp(other.py(), other.extract::<PyRef<'_, Self>>().ok().map(|o| self.inner == o.inner), op)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.inner)
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let json = slf.get().to_json();
        reduce(slf.as_any(), json)
    }
}

// ---------------------------------------------------------------- MemoryEstimate

/// The seed's `MemoryEstimate` (GiB figures). A scalar estimate; sweeps return
/// `tunesmith.estimate.MemoryEstimateColumns` with the same field names.
#[pyclass(name = "MemoryEstimate", module = "tunesmith", frozen, subclass)]
#[derive(Clone)]
pub struct PyMemoryEstimate {
    pub inner: MemoryEstimate,
}

#[pymethods]
impl PyMemoryEstimate {
    #[new]
    fn new(model_gb: f64, optimizer_gb: f64, activation_gb: f64, total_gb: f64) -> Self {
        Self { inner: MemoryEstimate { model_gb, optimizer_gb, activation_gb, total_gb } }
    }
    #[getter]
    fn model_gb(&self) -> f64 {
        self.inner.model_gb
    }
    #[getter]
    fn optimizer_gb(&self) -> f64 {
        self.inner.optimizer_gb
    }
    #[getter]
    fn activation_gb(&self) -> f64 {
        self.inner.activation_gb
    }
    #[getter]
    fn total_gb(&self) -> f64 {
        self.inner.total_gb
    }
    fn to_json(&self) -> String {
        to_json(&self.inner)
    }
    #[classmethod]
    fn from_json(_cls: &Bound<'_, pyo3::types::PyType>, py: Python<'_>, text: &str) -> PyResult<Self> {
        Ok(Self { inner: from_json(py, text, "MemoryEstimate")? })
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        let e = &self.inner;
        format!(
            "MemoryEstimate(model_gb={}, optimizer_gb={}, activation_gb={}, total_gb={})",
            py_float_repr(e.model_gb),
            py_float_repr(e.optimizer_gb),
            py_float_repr(e.activation_gb),
            py_float_repr(e.total_gb)
        )
    }
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        richcmp(other.py(), other.extract::<PyRef<'_, Self>>().ok().map(|o| self.inner == o.inner), op)
    }
    fn __hash__(&self) -> u64 {
        let e = &self.inner;
        hash_of(&[e.model_gb.to_bits(), e.optimizer_gb.to_bits(), e.activation_gb.to_bits(), e.total_gb.to_bits()])
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let json = slf.get().to_json();
        reduce(slf.as_any(), json)
    }
}

// ---------------------------------------------------------------- functions

/// Scalar seed estimate. (`tunesmith.estimate_training_memory` dispatches
/// scalars here and columns to `estimate_training_memory_columns`.)
#[pyfunction]
#[pyo3(signature = (model_params_millions, method = None, target = None))]
fn estimate_training_memory_scalar(
    model_params_millions: &Bound<'_, PyAny>,
    method: Option<PyRef<'_, PyTrainingMethod>>,
    target: Option<PyRef<'_, PyTrainingTarget>>,
) -> PyResult<PyMemoryEstimate> {
    let params = uint::<u64>(model_params_millions, "model_params_millions", "u64", u64::MAX)?;
    let method = method.map(|m| m.inner).unwrap_or_default();
    let target = target.map(|t| t.inner).unwrap_or_default();
    Ok(PyMemoryEstimate { inner: estimate_training_memory(params, method, target) })
}

type Columns4<'py> = (
    Bound<'py, numpy::PyArray1<f64>>,
    Bound<'py, numpy::PyArray1<f64>>,
    Bound<'py, numpy::PyArray1<f64>>,
    Bound<'py, numpy::PyArray1<f64>>,
);

/// Column seed estimate: every column has length 1 (broadcast) or N.
#[pyfunction]
fn estimate_training_memory_columns<'py>(
    py: Python<'py>,
    model_params_millions: PyReadonlyArray1<'py, u64>,
    method_kind: PyReadonlyArray1<'py, u8>,
    method_bits: PyReadonlyArray1<'py, u8>,
    target: PyReadonlyArray1<'py, u8>,
) -> PyResult<Columns4<'py>> {
    let params = model_params_millions.as_slice()?;
    let kind = method_kind.as_slice()?;
    let bits = method_bits.as_slice()?;
    let target = target.as_slice()?;
    let out = detached(py, || sweep::estimate_training_memory_columns(params, kind, bits, target))
        .map_err(|e| to_pyerr(py, e))?;
    Ok((
        out.model_gb.into_pyarray(py),
        out.optimizer_gb.into_pyarray(py),
        out.activation_gb.into_pyarray(py),
        out.total_gb.into_pyarray(py),
    ))
}

/// Column seed estimate written into four caller-owned float64 arrays.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn fill_training_memory_columns<'py>(
    py: Python<'py>,
    model_params_millions: PyReadonlyArray1<'py, u64>,
    method_kind: PyReadonlyArray1<'py, u8>,
    method_bits: PyReadonlyArray1<'py, u8>,
    target: PyReadonlyArray1<'py, u8>,
    model_gb: Bound<'py, numpy::PyArray1<f64>>,
    optimizer_gb: Bound<'py, numpy::PyArray1<f64>>,
    activation_gb: Bound<'py, numpy::PyArray1<f64>>,
    total_gb: Bound<'py, numpy::PyArray1<f64>>,
) -> PyResult<()> {
    let params = model_params_millions.as_slice()?;
    let kind = method_kind.as_slice()?;
    let bits = method_bits.as_slice()?;
    let target = target.as_slice()?;
    // `readwrite` fails (instead of aliasing) when two outputs share memory or one is read-only.
    let mut m = model_gb.try_readwrite()?;
    let mut o = optimizer_gb.try_readwrite()?;
    let mut a = activation_gb.try_readwrite()?;
    let mut t = total_gb.try_readwrite()?;
    let out = [m.as_slice_mut()?, o.as_slice_mut()?, a.as_slice_mut()?, t.as_slice_mut()?];
    detached(py, || sweep::fill_training_memory_columns(params, kind, bits, target, out))
        .map_err(|e| to_pyerr(py, e))
}

/// The six `FineTuneMethod` heuristics over columns (kind codes: LoRA=0,
/// QLoRA=1, Adapter=2, Prefix=3, IA3=4, Full=5).
#[pyfunction]
fn fine_tune_heuristics_columns<'py>(
    py: Python<'py>,
    kind: PyReadonlyArray1<'py, u8>,
    rank: PyReadonlyArray1<'py, u32>,
    alpha: PyReadonlyArray1<'py, f32>,
    bits: PyReadonlyArray1<'py, u8>,
) -> PyResult<Vec<Bound<'py, numpy::PyArray1<f64>>>> {
    let kind = kind.as_slice()?;
    let rank = rank.as_slice()?;
    let alpha = alpha.as_slice()?;
    let bits = bits.as_slice()?;
    let cols = detached(py, || sweep::fine_tune_heuristics_columns(kind, rank, alpha, bits))
        .map_err(|e| to_pyerr(py, e))?;
    Ok(cols.into_iter().map(|c| c.into_pyarray(py)).collect())
}

/// Encode a sequence of `TrainingMethod`s as `(kind, bits)` byte columns.
#[pyfunction]
fn encode_training_methods(methods: Vec<PyRef<'_, PyTrainingMethod>>) -> (Vec<u8>, Vec<u8>) {
    methods.iter().map(|m| m.inner.code()).unzip()
}

/// Encode a sequence of `TrainingTarget`s as a byte column.
#[pyfunction]
fn encode_training_targets(targets: Vec<PyRef<'_, PyTrainingTarget>>) -> Vec<u8> {
    targets.iter().map(|t| t.inner.code()).collect()
}

/// Encode a sequence of `FineTuneMethod`s as `(kind, rank, alpha, bits)` columns.
#[pyfunction]
fn encode_fine_tune_methods(
    methods: Vec<PyRef<'_, PyFineTuneMethod>>,
) -> (Vec<u8>, Vec<u32>, Vec<f32>, Vec<u8>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for m in &methods {
        let (k, r, a, b) = match m.inner {
            FineTuneMethod::LoRA { rank, alpha } => (0, rank, alpha, 0),
            FineTuneMethod::QLoRA { rank, bits } => (1, rank, 0.0, bits),
            FineTuneMethod::Adapter => (2, 0, 0.0, 0),
            FineTuneMethod::Prefix => (3, 0, 0.0, 0),
            FineTuneMethod::IA3 => (4, 0, 0.0, 0),
            FineTuneMethod::Full => (5, 0, 0.0, 0),
        };
        out.0.push(k);
        out.1.push(r);
        out.2.push(a);
        out.3.push(b);
    }
    out
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFineTuneMethod>()?;
    m.add_class::<PyAcceleratorRequirement>()?;
    m.add_class::<PyTrainingMethod>()?;
    m.add_class::<PyTrainingTarget>()?;
    m.add_class::<PyMemoryEstimate>()?;
    m.add_function(wrap_pyfunction!(estimate_training_memory_scalar, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_training_memory_columns, m)?)?;
    m.add_function(wrap_pyfunction!(fine_tune_heuristics_columns, m)?)?;
    m.add_function(wrap_pyfunction!(fill_training_memory_columns, m)?)?;
    m.add_function(wrap_pyfunction!(encode_training_methods, m)?)?;
    m.add_function(wrap_pyfunction!(encode_training_targets, m)?)?;
    m.add_function(wrap_pyfunction!(encode_fine_tune_methods, m)?)?;
    Ok(())
}
