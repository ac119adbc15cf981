//! `flovyn_plugin_rules._rules`: the host's check of a plugin's descriptor, for Python.
//!
//! A Python plugin sends its descriptor as `Describe`'s answer; the host decodes it
//! (`flovyn_protocol::read_describe_response`) and checks it (`PluginDescriptor::check`:
//! plugin name, tables in the migrations' SQL, migration order, route paths, permissions,
//! events, task intervals…) before anything of it is used. This module runs those same two
//! functions on the author's machine, so `flovyn-plugin check` reports exactly what the
//! server would refuse, with the same messages.

use prost::Message as _;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The rules `describe_response` (a serialized `flovyn.plugin.v1.DescribeResponse`) breaks,
/// as the server words them; empty when it follows them all. Raises `ValueError` when the
/// bytes are not a descriptor the server can read.
#[pyfunction]
fn check(describe_response: &[u8]) -> PyResult<Vec<String>> {
    let response = flovyn_protocol::pb::DescribeResponse::decode(describe_response)
        .map_err(|e| PyValueError::new_err(format!("not a DescribeResponse: {e}")))?;
    let descriptor = flovyn_protocol::read_describe_response(response)
        .map_err(|e| PyValueError::new_err(format!("its descriptor does not read: {e}")))?;
    Ok(match descriptor.check() {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    })
}

#[pymodule]
fn _rules(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(check, module)?)?;
    Ok(())
}
