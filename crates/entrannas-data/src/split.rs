//! Seeded, class-balanced, disjoint subsets of a split: the search's `train` (weights)
//! and `val` (architecture) parts of the training set.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::augment::mix_seed;
use crate::error::DataError;

/// How the training set is divided for the bi-level search (SPEC section 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSplit {
    /// Fraction of every class that trains the weights (`train`).
    pub train_portion: f64,
    /// Fraction of every class that trains the architecture (`val`); `None` takes the
    /// rest, `1 - train_portion`. ImageNet search uses 0.1 and 0.1.
    pub val_portion: Option<f64>,
    /// Seed of the per-class shuffles.
    pub seed: u64,
}

impl Default for SearchSplit {
    /// Two halves, seed 0.
    fn default() -> Self {
        Self {
            train_portion: 0.5,
            val_portion: None,
            seed: 0,
        }
    }
}

impl SearchSplit {
    /// The two fractions, `[train, val]`.
    pub fn fractions(&self) -> [f64; 2] {
        [
            self.train_portion,
            self.val_portion.unwrap_or(1.0 - self.train_portion),
        ]
    }

    /// Indices (into `labels`) of the `train` and `val` parts.
    pub fn apply(
        &self,
        labels: &[usize],
        classes: usize,
    ) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        let mut parts = balanced_split(labels, classes, &self.fractions(), self.seed)?;
        let val = parts.pop().unwrap_or_default();
        let train = parts.pop().unwrap_or_default();
        Ok((train, val))
    }
}

/// Splits the items with the given labels into disjoint parts, part `k` taking about
/// `fractions[k]` of every class.
///
/// Each class's items are shuffled by a generator seeded from `(seed, class)` and cut at
/// the rounded cumulative fractions, so when the fractions sum to one every item lands
/// in exactly one part. Indices within a part are ascending.
pub fn balanced_split(
    labels: &[usize],
    classes: usize,
    fractions: &[f64],
    seed: u64,
) -> Result<Vec<Vec<usize>>, DataError> {
    let total: f64 = fractions.iter().sum();
    if fractions.iter().any(|f| !(0.0..=1.0).contains(f)) || total > 1.0 + 1e-9 {
        return Err(DataError::InvalidOption(format!(
            "split fractions {fractions:?} must each lie in [0, 1] and sum to at most 1"
        )));
    }
    let mut by_class = vec![Vec::new(); classes];
    for (i, &label) in labels.iter().enumerate() {
        let bucket = by_class.get_mut(label).ok_or_else(|| {
            DataError::InvalidOption(format!("label {label} of item {i} is not below {classes}"))
        })?;
        bucket.push(i);
    }
    let mut parts = vec![Vec::new(); fractions.len()];
    for (class, mut items) in by_class.into_iter().enumerate() {
        items.shuffle(&mut StdRng::seed_from_u64(mix_seed(&[seed, class as u64])));
        let n = items.len() as f64;
        let mut cumulative = 0.0;
        let mut start = 0;
        for (part, f) in parts.iter_mut().zip(fractions) {
            cumulative += f;
            let end = ((cumulative * n).round() as usize).min(items.len());
            part.extend_from_slice(&items[start..end.max(start)]);
            start = end.max(start);
        }
    }
    for part in &mut parts {
        part.sort_unstable();
    }
    Ok(parts)
}

/// Indices of the first `per_class` items of every class, in file order (fewer for a
/// class that has fewer). This is how the embedded subset was cut.
pub fn first_per_class(labels: &[usize], classes: usize, per_class: usize) -> Vec<usize> {
    let mut taken = vec![0; classes];
    let mut out = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        if let Some(t) = taken.get_mut(label).filter(|t| **t < per_class) {
            *t += 1;
            out.push(i);
        }
    }
    out
}

/// How many items of each class the given indices hold.
pub fn class_counts(labels: &[usize], indices: &[usize], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for &i in indices {
        if let Some(c) = labels.get(i).and_then(|&l| counts.get_mut(l)) {
            *c += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        #[test]
        fn halves_are_disjoint_balanced_and_seeded(
            labels in proptest::collection::vec(0usize..5, 0..300),
            portion in 0.05f64..0.95,
            seed in any::<u64>(),
        ) {
            let split = SearchSplit { train_portion: portion, val_portion: None, seed };
            let (train, val) = split.apply(&labels, 5).unwrap();
            let a: HashSet<_> = train.iter().collect();
            let b: HashSet<_> = val.iter().collect();
            prop_assert!(a.is_disjoint(&b));
            prop_assert_eq!(a.len() + b.len(), labels.len());
            let all = class_counts(&labels, &(0..labels.len()).collect::<Vec<_>>(), 5);
            let tc = class_counts(&labels, &train, 5);
            for c in 0..5 {
                let want = all[c] as f64 * portion;
                prop_assert!((tc[c] as f64 - want).abs() <= 0.5 + 1e-9);
            }
            prop_assert_eq!(split.apply(&labels, 5).unwrap(), (train, val));
        }

        #[test]
        fn partial_fractions_leave_the_rest_out(
            labels in proptest::collection::vec(0usize..3, 1..300),
            seed in any::<u64>(),
        ) {
            let parts = balanced_split(&labels, 3, &[0.1, 0.1], seed).unwrap();
            let a: HashSet<_> = parts[0].iter().collect();
            let b: HashSet<_> = parts[1].iter().collect();
            prop_assert!(a.is_disjoint(&b));
            prop_assert!(a.len() + b.len() <= labels.len() / 5 + 3);
        }
    }

    #[test]
    fn different_seeds_differ_and_even_classes_split_exactly() {
        let labels: Vec<usize> = (0..1000).map(|i| i % 10).collect();
        let s0 = SearchSplit::default().apply(&labels, 10).unwrap();
        let s1 = SearchSplit {
            seed: 1,
            ..Default::default()
        }
        .apply(&labels, 10)
        .unwrap();
        assert_ne!(s0, s1);
        assert_eq!(class_counts(&labels, &s0.0, 10), vec![50; 10]);
        assert_eq!(class_counts(&labels, &s0.1, 10), vec![50; 10]);
    }

    #[test]
    fn first_per_class_keeps_file_order() {
        let labels = [1, 0, 1, 1, 0, 2, 0];
        assert_eq!(first_per_class(&labels, 3, 2), vec![0, 1, 2, 4, 5]);
    }

    #[test]
    fn bad_fractions_and_labels_are_errors() {
        assert!(balanced_split(&[0, 1], 2, &[0.7, 0.7], 0).is_err());
        assert!(balanced_split(&[0, 1], 2, &[-0.1], 0).is_err());
        assert!(balanced_split(&[0, 2], 2, &[0.5], 0).is_err());
    }
}
