//! The softmax temperature schedule (SPEC section 4).

use serde::{Deserialize, Serialize};

/// An exponentially decaying temperature: `tau(e) = initial * factor^e` at epoch `e`
/// (counted from 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TemperatureSchedule {
    /// The temperature at epoch 0.
    pub initial: f64,
    /// The factor applied once per epoch.
    pub factor: f64,
}

impl TemperatureSchedule {
    /// A schedule starting at `initial`, multiplied by `factor` every epoch.
    pub fn new(initial: f64, factor: f64) -> Self {
        Self { initial, factor }
    }

    /// EnTranNAS (and EnTranNAS-DST on CIFAR-10): `tau0 = 5.0`, `x 0.923` per epoch.
    pub fn entrannas() -> Self {
        Self::new(5.0, 0.923)
    }

    /// EnTranNAS-DST searched on ImageNet: `tau0 = 1.0`, `x 0.9` per epoch.
    pub fn dst_imagenet() -> Self {
        Self::new(1.0, 0.9)
    }

    /// A temperature that never changes; `constant(1.0)` is DARTS's plain softmax.
    pub fn constant(tau: f64) -> Self {
        Self::new(tau, 1.0)
    }

    /// The temperature at epoch `epoch`: `initial * factor^epoch`.
    pub fn at_epoch(&self, epoch: usize) -> f64 {
        let exponent = i32::try_from(epoch).unwrap_or(i32::MAX);
        self.initial * self.factor.powi(exponent)
    }
}

impl Default for TemperatureSchedule {
    /// The EnTranNAS schedule.
    fn default() -> Self {
        Self::entrannas()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn entrannas_schedule_decays_by_0_923_per_epoch() {
        let s = TemperatureSchedule::entrannas();
        assert_eq!(s.at_epoch(0), 5.0);
        assert_relative_eq!(s.at_epoch(1), 5.0 * 0.923, max_relative = 1e-12);
        assert_relative_eq!(
            s.at_epoch(49),
            5.0 * 0.923f64.powi(49),
            max_relative = 1e-12
        );
        assert!(s.at_epoch(49) < 0.1);
    }

    #[test]
    fn dst_imagenet_and_constant_schedules() {
        let s = TemperatureSchedule::dst_imagenet();
        assert_eq!(s.at_epoch(0), 1.0);
        assert_relative_eq!(s.at_epoch(2), 0.81, max_relative = 1e-12);
        let c = TemperatureSchedule::constant(1.0);
        assert_eq!(c.at_epoch(0), 1.0);
        assert_eq!(c.at_epoch(1000), 1.0);
    }

    #[test]
    fn schedule_round_trips_through_json() {
        let s = TemperatureSchedule::entrannas();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, r#"{"initial":5.0,"factor":0.923}"#);
        let back: TemperatureSchedule = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
