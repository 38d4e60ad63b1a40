//! Knative "living" condition sets: a top-level `Ready` condition derived
//! from dependent conditions (`apis.NewLivingConditionSet`).
//!
//! ```
//! use sources_api::conditions::{ConditionSet, ConditionStatus};
//!
//! let set = ConditionSet::living(&["SinkProvided", "Deployed"]);
//! let mut conditions = Vec::new();
//! set.initialize(&mut conditions, "2026-01-01T00:00:00Z");
//! set.mark(&mut conditions, "SinkProvided", ConditionStatus::True, "", "", "2026-01-01T00:00:01Z");
//! set.mark(&mut conditions, "Deployed", ConditionStatus::False, "DeploymentUnavailable",
//!          "The Deployment 'x' is unavailable.", "2026-01-01T00:00:02Z");
//! let ready = set.get(&conditions, "Ready").unwrap();
//! assert_eq!(ready.status, "False");
//! assert_eq!(ready.reason.as_deref(), Some("DeploymentUnavailable"));
//! ```

use crate::duck::Condition;

/// The top-level condition of a living set.
pub const READY: &str = "Ready";

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// The JSON text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }

    /// Parses `True`/`False`; anything else is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "True" => Self::True,
            "False" => Self::False,
            _ => Self::Unknown,
        }
    }
}

/// A living condition set: `Ready` plus its dependents.
#[derive(Clone, Debug)]
pub struct ConditionSet {
    dependents: Vec<&'static str>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl ConditionSet {
    /// `Ready` derived from `dependents`.
    pub fn living(dependents: &[&'static str]) -> Self {
        Self {
            dependents: dependents.to_vec(),
        }
    }

    /// The dependents.
    pub fn dependents(&self) -> &[&'static str] {
        &self.dependents
    }

    /// Finds a condition.
    pub fn get<'a>(&self, conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
        conditions.iter().find(|c| c.type_ == type_)
    }

    /// Adds every missing condition of the set as `Unknown` (Knative's
    /// `InitializeConditions`); existing ones are kept.
    pub fn initialize(&self, conditions: &mut Vec<Condition>, now: &str) {
        for type_ in std::iter::once(READY).chain(self.dependents.iter().copied()) {
            if self.get(conditions, type_).is_none() {
                conditions.push(Condition {
                    type_: type_.to_owned(),
                    status: "Unknown".to_owned(),
                    last_transition_time: Some(now.to_owned()),
                    ..Default::default()
                });
            }
        }
        self.sort(conditions);
    }

    fn sort(&self, conditions: &mut [Condition]) {
        conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    }

    /// Sets one condition (changing `lastTransitionTime` only when status,
    /// reason or message changed) and recomputes `Ready`.
    pub fn mark(
        &self,
        conditions: &mut Vec<Condition>,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        now: &str,
    ) {
        set_condition(conditions, type_, status, reason, message, now);
        if type_ != READY {
            self.recompute_ready(conditions, now);
        }
        self.sort(conditions);
    }

    /// Recomputes `Ready`: True when every dependent is True, otherwise the
    /// first (in set order) False dependent's status, reason and message, else
    /// the first Unknown one's.
    pub fn recompute_ready(&self, conditions: &mut Vec<Condition>, now: &str) {
        let mut first_false: Option<Condition> = None;
        let mut first_unknown: Option<Condition> = None;
        for dep in &self.dependents {
            let cond = self.get(conditions, dep).cloned().unwrap_or(Condition {
                type_: (*dep).to_owned(),
                status: "Unknown".to_owned(),
                ..Default::default()
            });
            match ConditionStatus::parse(&cond.status) {
                ConditionStatus::True => {}
                ConditionStatus::False => {
                    if first_false.is_none() {
                        first_false = Some(cond);
                    }
                }
                ConditionStatus::Unknown => {
                    if first_unknown.is_none() {
                        first_unknown = Some(cond);
                    }
                }
            }
        }
        match first_false.or(first_unknown) {
            None => set_condition(conditions, READY, ConditionStatus::True, "", "", now),
            Some(c) => set_condition(
                conditions,
                READY,
                ConditionStatus::parse(&c.status),
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or(""),
                now,
            ),
        }
    }

    /// True when `Ready` is True.
    pub fn is_ready(&self, conditions: &[Condition]) -> bool {
        self.get(conditions, READY)
            .is_some_and(|c| c.status == "True")
    }
}

fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: &str,
) {
    let new = Condition {
        type_: type_.to_owned(),
        status: status.as_str().to_owned(),
        severity: None,
        last_transition_time: Some(now.to_owned()),
        reason: non_empty(reason),
        message: non_empty(message),
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let same = existing.status == new.status
                && existing.reason == new.reason
                && existing.message == new.message;
            if !same {
                *existing = new;
            }
        }
        None => conditions.push(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_follows_dependents() {
        let set = ConditionSet::living(&["AuthReady", "AdapterReady"]);
        let mut c = Vec::new();
        set.initialize(&mut c, "t0");
        assert_eq!(c.len(), 3);
        assert_eq!(set.get(&c, READY).unwrap().status, "Unknown");
        set.mark(&mut c, "AuthReady", ConditionStatus::True, "", "", "t1");
        assert_eq!(set.get(&c, READY).unwrap().status, "Unknown");
        set.mark(&mut c, "AdapterReady", ConditionStatus::True, "", "", "t2");
        assert!(set.is_ready(&c));
        assert_eq!(
            set.get(&c, READY).unwrap().last_transition_time.as_deref(),
            Some("t2")
        );
        // Re-marking with the same values keeps the transition time.
        set.mark(&mut c, "AdapterReady", ConditionStatus::True, "", "", "t3");
        assert_eq!(
            set.get(&c, "AdapterReady")
                .unwrap()
                .last_transition_time
                .as_deref(),
            Some("t2")
        );
        // False wins over Unknown.
        set.mark(
            &mut c,
            "AdapterReady",
            ConditionStatus::Unknown,
            "U",
            "u",
            "t4",
        );
        set.mark(&mut c, "AuthReady", ConditionStatus::False, "F", "f", "t5");
        let ready = set.get(&c, READY).unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("F"));
        assert_eq!(ready.message.as_deref(), Some("f"));
    }
}
