//! `environment.json`: where and how a run started (and `environment-resume.json`:
//! where it was last resumed).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The burn version the workspace pins.
pub const BURN_VERSION: &str = "0.21.0";

/// What `environment.json` records. Every field may be absent in a file written by an
/// earlier version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Environment {
    /// The entrannas version.
    pub entrannas: Option<String>,
    /// The burn version.
    pub burn: Option<String>,
    /// The device the run used.
    pub device: Option<String>,
    /// Where the dataset was read from.
    pub dataset: Option<String>,
    /// The command line.
    pub command: Vec<String>,
    /// When the run started (seconds since 1970-01-01 UTC).
    pub started_unix: Option<u64>,
}

impl Environment {
    /// This process, now, on `device`, reading `dataset`.
    pub fn now(device: &str, dataset: &str) -> Self {
        Self {
            entrannas: Some(env!("CARGO_PKG_VERSION").into()),
            burn: Some(BURN_VERSION.into()),
            device: Some(device.into()),
            dataset: Some(dataset.into()),
            command: std::env::args().collect(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs()),
        }
    }
}
