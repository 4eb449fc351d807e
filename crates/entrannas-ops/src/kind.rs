//! The built-in candidate operations and their DARTS names.

use core::fmt;
use core::str::FromStr;

use crate::OpsError;

/// A built-in candidate operation, named exactly as in DARTS.
///
/// The standard space ([`OpKind::STANDARD`]) has 8 operations including `none`;
/// the extended space ([`OpKind::EXTENDED`]) adds 5 plain convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// `none`: the zero operation (no connection).
    None,
    /// `max_pool_3x3`.
    MaxPool3x3,
    /// `avg_pool_3x3` (padding excluded from the average).
    AvgPool3x3,
    /// `skip_connect`: identity, or a factorized reduce at stride 2.
    SkipConnect,
    /// `sep_conv_3x3`: two stacked ReLU-depthwise-pointwise-BN blocks.
    SepConv3x3,
    /// `sep_conv_5x5`.
    SepConv5x5,
    /// `dil_conv_3x3`: ReLU, depthwise conv with dilation 2, pointwise conv, BN.
    DilConv3x3,
    /// `dil_conv_5x5`.
    DilConv5x5,
    /// `conv_1x1`: ReLU-Conv-BN.
    Conv1x1,
    /// `conv_3x3`: ReLU-Conv-BN.
    Conv3x3,
    /// `conv_1x3_3x1`: ReLU, a 1x3 and a 3x1 convolution, BN.
    Conv1x3And3x1,
    /// `conv_1x5_5x1`.
    Conv1x5And5x1,
    /// `conv_1x7_7x1`.
    Conv1x7And7x1,
}

impl OpKind {
    /// Every built-in operation, in the order of the extended space.
    pub const ALL: [OpKind; 13] = [
        OpKind::None,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::SkipConnect,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
        OpKind::Conv1x1,
        OpKind::Conv3x3,
        OpKind::Conv1x3And3x1,
        OpKind::Conv1x5And5x1,
        OpKind::Conv1x7And7x1,
    ];

    /// DARTS's standard space, in DARTS's `PRIMITIVES` order.
    pub const STANDARD: [OpKind; 8] = [
        OpKind::None,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::SkipConnect,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
    ];

    /// The extended space: the standard space plus five plain convolutions.
    pub const EXTENDED: [OpKind; 13] = Self::ALL;

    /// The DARTS name of the operation, for example `sep_conv_3x3`.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::None => "none",
            OpKind::MaxPool3x3 => "max_pool_3x3",
            OpKind::AvgPool3x3 => "avg_pool_3x3",
            OpKind::SkipConnect => "skip_connect",
            OpKind::SepConv3x3 => "sep_conv_3x3",
            OpKind::SepConv5x5 => "sep_conv_5x5",
            OpKind::DilConv3x3 => "dil_conv_3x3",
            OpKind::DilConv5x5 => "dil_conv_5x5",
            OpKind::Conv1x1 => "conv_1x1",
            OpKind::Conv3x3 => "conv_3x3",
            OpKind::Conv1x3And3x1 => "conv_1x3_3x1",
            OpKind::Conv1x5And5x1 => "conv_1x5_5x1",
            OpKind::Conv1x7And7x1 => "conv_1x7_7x1",
        }
    }

    /// The built-in operation with this DARTS name, if any.
    pub fn from_name(name: &str) -> Option<OpKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether the operation has no trainable weights (pools, skip at stride 1, none).
    /// A skip connection at stride 2 is a factorized reduce, which has weights; this
    /// describes the operation as a collapse diagnostic counts it.
    pub fn is_parameter_free(self) -> bool {
        matches!(
            self,
            OpKind::None | OpKind::MaxPool3x3 | OpKind::AvgPool3x3 | OpKind::SkipConnect
        )
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OpKind {
    type Err = OpsError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| OpsError::UnknownOp {
            name: name.to_string(),
            valid: Self::ALL.iter().map(|k| k.name().to_string()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in OpKind::ALL {
            assert_eq!(kind.name().parse::<OpKind>().unwrap(), kind);
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "sep_conv_7x7".parse::<OpKind>().unwrap_err().to_string();
        assert!(err.contains("sep_conv_7x7"), "{err}");
        assert!(
            err.contains("dil_conv_5x5") && err.contains("none"),
            "{err}"
        );
    }

    #[test]
    fn spaces_have_the_papers_sizes() {
        assert_eq!(OpKind::STANDARD.len(), 8);
        assert_eq!(OpKind::EXTENDED.len(), 13);
        assert_eq!(OpKind::STANDARD[0], OpKind::None);
    }
}
