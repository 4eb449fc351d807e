//! A search's [`EpochRecord`] as a line of `history.jsonl` and of `metrics.csv`.

use entrannas_run::history::{HistoryRecord, index, nan_at};

use crate::searcher::{CellDiagnostics, EpochRecord};

/// The top-level float fields of a search record.
const FLOATS: [&str; 10] = [
    "lr",
    "tau",
    "train_loss",
    "train_accuracy",
    "arch_loss",
    "supernet_accuracy",
    "child_accuracy",
    "gap",
    "seconds",
    "images_per_second",
];

impl EpochRecord {
    fn diagnostics_mut(&mut self, cell: &str) -> &mut CellDiagnostics {
        if cell == "normal" {
            &mut self.normal
        } else {
            &mut self.reduce
        }
    }
}

impl HistoryRecord for EpochRecord {
    const CSV_HEADER: &'static str = "epoch,lr,tau,train_loss,train_accuracy,arch_loss,supernet_accuracy,child_accuracy,gap,supernet_accuracy_recalibrated,child_accuracy_recalibrated,gap_recalibrated,normal_connections,reduce_connections,normal_skips,target_params,target_flops,seconds,derivation_changes,derivation_stable_steps,normal_weight_outside_child,reduce_weight_outside_child,normal_mean_largest_coefficient,reduce_mean_largest_coefficient,normal_dropped_edges_to_none,reduce_dropped_edges_to_none";

    fn csv_row(&self) -> String {
        let r = self;
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        let fraction = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let count = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
        format!(
            "{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{}",
            r.epoch,
            r.lr,
            r.tau,
            r.train_loss,
            r.train_accuracy,
            r.arch_loss,
            r.supernet_accuracy,
            r.child_accuracy,
            r.gap,
            fraction(r.supernet_accuracy_recalibrated),
            fraction(r.child_accuracy_recalibrated),
            fraction(r.gap_recalibrated()),
            r.normal.connections,
            r.reduce.connections,
            r.normal.skip_connects,
            opt(r.target_params),
            opt(r.target_flops),
            r.seconds,
            count(r.derivation_changes),
            count(r.derivation_stable_steps),
            fraction(r.normal.weight_outside_child),
            fraction(r.reduce.weight_outside_child),
            fraction(r.normal.mean_largest_coefficient),
            fraction(r.reduce.mean_largest_coefficient),
            count(r.normal.dropped_edges.map(|d| d.to_none)),
            count(r.reduce.dropped_edges.map(|d| d.to_none)),
        )
    }

    fn is_float(path: &[&str]) -> bool {
        match path {
            [field] => FLOATS.contains(field),
            ["normal" | "reduce", "op_entropy"] => true,
            ["normal" | "reduce", "thresholds", _] => true,
            ["arch", "tau"] => true,
            ["arch", "normal" | "reduce", "alpha", _, _] => true,
            ["arch", "normal" | "reduce", "beta", _] => true,
            _ => false,
        }
    }

    fn set_nan(&mut self, path: &[&str]) {
        let nan = f64::NAN;
        match path {
            ["lr"] => self.lr = nan,
            ["tau"] => self.tau = nan,
            ["train_loss"] => self.train_loss = nan,
            ["train_accuracy"] => self.train_accuracy = nan,
            ["arch_loss"] => self.arch_loss = nan,
            ["supernet_accuracy"] => self.supernet_accuracy = nan,
            ["child_accuracy"] => self.child_accuracy = nan,
            ["gap"] => self.gap = nan,
            ["seconds"] => self.seconds = nan,
            ["images_per_second"] => self.images_per_second = nan,
            [cell, "op_entropy"] => self.diagnostics_mut(cell).op_entropy = nan,
            [cell, "thresholds", i] => {
                if let Some(t) = self.diagnostics_mut(cell).thresholds.as_mut() {
                    nan_at(t, i);
                }
            }
            ["arch", "tau"] => self.arch.tau = nan,
            ["arch", cell, what, rest @ ..] => {
                let arch = if *cell == "normal" {
                    &mut self.arch.normal
                } else {
                    &mut self.arch.reduce
                };
                match (*what, rest) {
                    ("alpha", [i, j]) => {
                        if let Some(row) = arch.alpha.get_mut(index(i)) {
                            nan_at(row, j);
                        }
                    }
                    ("beta", [i]) => {
                        if let Some(beta) = arch.beta.as_mut() {
                            nan_at(beta, i);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}
