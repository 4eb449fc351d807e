//! A printable, serializable description of an opened dataset (for `entrannas data`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;
use crate::kind::DatasetInfo;
use crate::split::class_counts;

/// Items of one split, in total and per class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// Split name (`train`, `test`, `search-train`, `search-val`).
    pub name: String,
    /// Items in the split.
    pub total: usize,
    /// Items of each class, by label.
    pub per_class: Vec<usize>,
}

impl SplitSummary {
    /// Counts the items at `indices` of a source with the given labels.
    pub fn new(name: &str, labels: &[usize], indices: &[usize], classes: usize) -> Self {
        Self {
            name: name.to_string(),
            total: indices.len(),
            per_class: class_counts(labels, indices, classes),
        }
    }
}

/// What `entrannas data` prints: the dataset, where it was read from, its image shape,
/// normalization, augmentation and the counts of every split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// Shapes, classes and normalization.
    pub info: DatasetInfo,
    /// The directory read, or `embedded`.
    pub location: String,
    /// The training augmentation.
    pub augment: AugmentConfig,
    /// Counts per split.
    pub splits: Vec<SplitSummary>,
    /// Image files left out of the splits because they could not be decoded (only
    /// when told to skip them).
    #[serde(default)]
    pub skipped_images: usize,
    /// The first few of those files.
    #[serde(default)]
    pub skipped_examples: Vec<String>,
}

/// How many skipped files [`DataSummary::skipped_examples`] lists.
pub(crate) const SKIPPED_EXAMPLES: usize = 3;

/// Classes up to this many get one line each in the text form.
const LISTED_CLASSES: usize = 20;

impl fmt::Display for DataSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.info;
        let list = |v: &[f32]| {
            let parts: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
            parts.join(", ")
        };
        writeln!(f, "dataset      {} ({})", info.name, self.location)?;
        writeln!(
            f,
            "images       {} x {} x {} (channels x height x width), {} classes",
            info.channels, info.height, info.width, info.classes
        )?;
        writeln!(
            f,
            "normalize    mean [{}], std [{}]",
            list(&info.mean),
            list(&info.std)
        )?;
        let a = &self.augment;
        let cutout = a.cutout.map_or("off".to_string(), |l| l.to_string());
        writeln!(
            f,
            "augment      crop padding {}, flip {}, cutout {}",
            a.crop_padding,
            if a.flip { "on" } else { "off" },
            cutout
        )?;
        if self.skipped_images > 0 {
            writeln!(
                f,
                "skipped      {} undecodable image{} (first: {})",
                self.skipped_images,
                if self.skipped_images == 1 { "" } else { "s" },
                self.skipped_examples.join(", ")
            )?;
        }
        // First column: "label name" for class rows, wide enough for every name.
        let names = info.class_names.iter().map(|n| n.chars().count()).max();
        let w = 4 + names.unwrap_or(0).max(8);
        write!(f, "{:<w$}", "split")?;
        for s in &self.splits {
            write!(f, " {:>12}", s.name)?;
        }
        writeln!(f)?;
        write!(f, "{:<w$}", "items")?;
        for s in &self.splits {
            write!(f, " {:>12}", s.total)?;
        }
        writeln!(f)?;
        if info.classes <= LISTED_CLASSES {
            for (c, name) in info.class_names.iter().enumerate() {
                let nw = w - 4;
                write!(f, "{c:>3} {name:<nw$}")?;
                for s in &self.splits {
                    write!(f, " {:>12}", s.per_class.get(c).copied().unwrap_or(0))?;
                }
                writeln!(f)?;
            }
        } else {
            for (label, pick) in [("min/class", 0), ("max/class", 1)] {
                write!(f, "{label:<w$}")?;
                for s in &self.splits {
                    let it = s.per_class.iter().copied();
                    let v = if pick == 0 { it.min() } else { it.max() };
                    write!(f, " {:>12}", v.unwrap_or(0))?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
