//! The search methods, operation spaces and Engine-cell placements.

use core::fmt;
use core::str::FromStr;

use entrannas_ops::OpKind;
use entrannas_relax::{Relaxation, Rule, TemperatureSchedule};
use serde::{Deserialize, Serialize};

use crate::SearchError;

/// Which search the super-net runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// DARTS (first order): every cell an Engine cell, no feature sharing, `tau = 1`,
    /// top-2 derivation. The baseline of the paper's Tables 1 and 2.
    Darts,
    /// EnTranNAS: Engine and Transit cells, feature sharing, annealed temperature,
    /// top-2 derivation.
    Entran,
    /// EnTranNAS-DST: as EnTranNAS without the `none` op, with learned thresholds and
    /// the DST derivation (any number of inputs per node).
    Dst,
}

impl Method {
    /// Every method, in the order the CLI lists them.
    pub const ALL: [Method; 3] = [Method::Entran, Method::Dst, Method::Darts];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Darts => "darts",
            Method::Entran => "entran",
            Method::Dst => "dst",
        }
    }

    /// How the architecture parameters become coefficients.
    pub fn relaxation(self) -> Relaxation {
        match self {
            Method::Dst => Relaxation::Dst,
            _ => Relaxation::Softmax,
        }
    }

    /// The derivation rule.
    pub fn rule(self) -> Rule {
        match self {
            Method::Dst => Rule::Dst,
            _ => Rule::TopK(2),
        }
    }

    /// The default temperature schedule (SPEC section 4).
    pub fn default_schedule(self) -> TemperatureSchedule {
        match self {
            Method::Darts => TemperatureSchedule::constant(1.0),
            _ => TemperatureSchedule::entrannas(),
        }
    }
}

/// The candidate operations of every edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpSpace {
    /// DARTS's 8 operations (7 without `none`).
    Standard,
    /// The 13 operations of the paper's extended space (12 without `none`).
    Extended,
}

impl OpSpace {
    /// Every space, in the order the CLI lists them.
    pub const ALL: [OpSpace; 2] = [OpSpace::Standard, OpSpace::Extended];

    /// The op names of this space for `method` (DST drops `none`).
    pub fn ops(self, method: Method) -> Vec<String> {
        let all: &[OpKind] = match self {
            OpSpace::Standard => &OpKind::STANDARD,
            OpSpace::Extended => &OpKind::EXTENDED,
        };
        all.iter()
            .filter(|k| method != Method::Dst || **k != OpKind::None)
            .map(|k| k.name().to_string())
            .collect()
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            OpSpace::Standard => "standard",
            OpSpace::Extended => "extended",
        }
    }
}

/// Which cells of the super-net are Engine cells (the others are Transit cells).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnginePlacement {
    /// The first normal and the first reduction cell (the paper's default).
    First,
    /// The last normal and the last reduction cell.
    Last,
    /// The first half of the cells.
    Half,
    /// Every cell (as DARTS).
    All,
}

impl EnginePlacement {
    /// Every placement, in the order the CLI lists them.
    pub const ALL: [EnginePlacement; 4] = [
        EnginePlacement::First,
        EnginePlacement::Last,
        EnginePlacement::Half,
        EnginePlacement::All,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            EnginePlacement::First => "first",
            EnginePlacement::Last => "last",
            EnginePlacement::Half => "half",
            EnginePlacement::All => "all",
        }
    }

    /// For cells whose reduction flags are `reductions`, which are Engine cells.
    pub fn engines(self, reductions: &[bool]) -> Vec<bool> {
        let n = reductions.len();
        let pick = |reduction: bool, last: bool| {
            let mut of_type = (0..n).filter(|&i| reductions[i] == reduction);
            if last {
                of_type.next_back()
            } else {
                of_type.next()
            }
        };
        match self {
            EnginePlacement::All => vec![true; n],
            EnginePlacement::Half => (0..n).map(|i| i < n.div_ceil(2)).collect(),
            EnginePlacement::First | EnginePlacement::Last => {
                let last = self == EnginePlacement::Last;
                let chosen = [pick(false, last), pick(true, last)];
                (0..n).map(|i| chosen.contains(&Some(i))).collect()
            }
        }
    }
}

/// `FromStr` (by the name, an unknown one refused with the list) and `Display` (the
/// name) for an enum with `ALL` and `name`.
macro_rules! named_enum {
    ($ty:ty, $what:literal) => {
        impl FromStr for $ty {
            type Err = SearchError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| SearchError::InvalidChoice {
                        what: $what,
                        value: s.to_string(),
                        valid: <$ty>::ALL.map(<$ty>::name).join(", "),
                    })
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum!(Method, "method");
named_enum!(OpSpace, "op space");
named_enum!(EnginePlacement, "engine placement");
pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_pick_the_papers_cells() {
        // 8 cells, reductions at 2 and 5.
        let r = [false, false, true, false, false, true, false, false];
        let on = |p: EnginePlacement| -> Vec<usize> {
            p.engines(&r)
                .iter()
                .enumerate()
                .filter(|(_, e)| **e)
                .map(|(i, _)| i)
                .collect()
        };
        assert_eq!(on(EnginePlacement::First), vec![0, 2]);
        assert_eq!(on(EnginePlacement::Last), vec![5, 7]);
        assert_eq!(on(EnginePlacement::Half), vec![0, 1, 2, 3]);
        assert_eq!(on(EnginePlacement::All).len(), 8);
    }

    #[test]
    fn dst_drops_none_and_names_parse() {
        assert_eq!(OpSpace::Standard.ops(Method::Entran).len(), 8);
        assert_eq!(OpSpace::Standard.ops(Method::Dst).len(), 7);
        assert_eq!(OpSpace::Extended.ops(Method::Dst).len(), 12);
        assert_eq!("dst".parse::<Method>().unwrap(), Method::Dst);
        let err = "enas".parse::<Method>().unwrap_err().to_string();
        assert!(
            err.contains("enas") && err.contains("entran, dst, darts"),
            "{err}"
        );
    }
}
