//! Resources: named scalars (cpus, mem, disk, gpus, ...) and named range sets
//! (ports), with exact arithmetic.
//!
//! Scalars are kept in thousandths (as Mesos does with its fixed-point
//! `Value::Scalar`), so `0.1 + 0.2` cpus is exactly `0.3` and repeated
//! offer/recover cycles never drift.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Why a resource string or arithmetic request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceError {
    /// The text form could not be parsed.
    #[error("invalid resource {item:?}: {reason}")]
    Parse {
        /// The offending `name:value` item.
        item: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// An inclusive range `[begin, end]`, as Mesos's `Value::Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    /// First value in the range.
    pub begin: u64,
    /// Last value in the range (inclusive).
    pub end: u64,
}

/// A set of disjoint, sorted, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RangeSet {
    ranges: Vec<Range>,
}

impl RangeSet {
    /// Builds a set from any ranges (overlapping or unsorted), normalising them.
    pub fn from_ranges(ranges: impl IntoIterator<Item = Range>) -> Self {
        let mut set = RangeSet::default();
        for r in ranges {
            set.insert(r);
        }
        set
    }

    /// The normalised ranges, sorted by `begin`.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Number of values in the set.
    pub fn count(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.begin + 1).sum()
    }

    /// True when the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// True when `v` is in the set.
    pub fn contains_value(&self, v: u64) -> bool {
        self.ranges.iter().any(|r| r.begin <= v && v <= r.end)
    }

    /// Adds a range, merging with neighbours.
    pub fn insert(&mut self, r: Range) {
        if r.begin > r.end {
            return;
        }
        let mut merged = r;
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut placed = false;
        for &cur in &self.ranges {
            if cur.end.saturating_add(1) < merged.begin {
                out.push(cur);
            } else if merged.end.saturating_add(1) < cur.begin {
                if !placed {
                    out.push(merged);
                    placed = true;
                }
                out.push(cur);
            } else {
                merged = Range {
                    begin: merged.begin.min(cur.begin),
                    end: merged.end.max(cur.end),
                };
            }
        }
        if !placed {
            out.push(merged);
        }
        self.ranges = out;
    }

    /// Removes a range; values not present are ignored.
    pub fn remove(&mut self, r: Range) {
        if r.begin > r.end {
            return;
        }
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &cur in &self.ranges {
            if cur.end < r.begin || cur.begin > r.end {
                out.push(cur);
                continue;
            }
            if cur.begin < r.begin {
                out.push(Range {
                    begin: cur.begin,
                    end: r.begin - 1,
                });
            }
            if cur.end > r.end {
                out.push(Range {
                    begin: r.end + 1,
                    end: cur.end,
                });
            }
        }
        self.ranges = out;
    }

    /// True when every value of `other` is in `self`.
    pub fn contains(&self, other: &RangeSet) -> bool {
        other.ranges.iter().all(|o| {
            self.ranges
                .iter()
                .any(|r| r.begin <= o.begin && o.end <= r.end)
        })
    }
}

/// A bundle of resources: scalars by name and range sets by name.
///
/// Zero scalars and empty range sets are never stored, so two bundles are equal
/// exactly when they hold the same amounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// Scalar amounts in thousandths of a unit.
    scalars: BTreeMap<String, i64>,
    ranges: BTreeMap<String, RangeSet>,
}

fn to_milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

impl Resources {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: adds `value` of the scalar `name`.
    pub fn with_scalar(mut self, name: &str, value: f64) -> Self {
        self.add_scalar(name, value);
        self
    }

    /// Builder: adds the range `[begin, end]` to the range set `name`.
    pub fn with_range(mut self, name: &str, begin: u64, end: u64) -> Self {
        self.add_range(name, Range { begin, end });
        self
    }

    /// Adds `value` of the scalar `name` (negative values subtract, floored at zero).
    pub fn add_scalar(&mut self, name: &str, value: f64) {
        let m = to_milli(value);
        let e = self.scalars.entry(name.to_owned()).or_insert(0);
        *e = (*e + m).max(0);
        if *e == 0 {
            self.scalars.remove(name);
        }
    }

    /// Adds a range to the range set `name`.
    pub fn add_range(&mut self, name: &str, r: Range) {
        self.ranges.entry(name.to_owned()).or_default().insert(r);
    }

    /// The amount of scalar `name` (0 when absent).
    pub fn scalar(&self, name: &str) -> f64 {
        self.scalars.get(name).map_or(0.0, |m| *m as f64 / 1000.0)
    }

    /// Every scalar as `(name, amount)`.
    pub fn scalars(&self) -> impl Iterator<Item = (&str, f64)> {
        self.scalars
            .iter()
            .map(|(k, v)| (k.as_str(), *v as f64 / 1000.0))
    }

    /// The range set `name`, if any.
    pub fn range_set(&self, name: &str) -> Option<&RangeSet> {
        self.ranges.get(name)
    }

    /// Every range set as `(name, set)`.
    pub fn range_sets(&self) -> impl Iterator<Item = (&str, &RangeSet)> {
        self.ranges.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Convenience accessors for the common scalars.
    pub fn cpus(&self) -> f64 {
        self.scalar("cpus")
    }

    /// Memory in MB.
    pub fn mem(&self) -> f64 {
        self.scalar("mem")
    }

    /// Disk in MB.
    pub fn disk(&self) -> f64 {
        self.scalar("disk")
    }

    /// True when the bundle holds nothing.
    pub fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.ranges.values().all(RangeSet::is_empty)
    }

    /// True when every amount in `other` is available in `self`.
    pub fn contains(&self, other: &Resources) -> bool {
        other
            .scalars
            .iter()
            .all(|(k, v)| self.scalars.get(k).copied().unwrap_or(0) >= *v)
            && other.ranges.iter().all(|(k, set)| {
                set.is_empty() || self.ranges.get(k).is_some_and(|mine| mine.contains(set))
            })
    }

    /// Adds every amount in `other` to `self`.
    pub fn add(&mut self, other: &Resources) {
        for (k, v) in &other.scalars {
            *self.scalars.entry(k.clone()).or_insert(0) += v;
        }
        for (k, set) in &other.ranges {
            let mine = self.ranges.entry(k.clone()).or_default();
            for r in set.ranges() {
                mine.insert(*r);
            }
        }
        self.normalise();
    }

    /// Removes every amount in `other` from `self`, flooring scalars at zero.
    pub fn subtract(&mut self, other: &Resources) {
        for (k, v) in &other.scalars {
            if let Some(mine) = self.scalars.get_mut(k) {
                *mine = (*mine - v).max(0);
            }
        }
        for (k, set) in &other.ranges {
            if let Some(mine) = self.ranges.get_mut(k) {
                for r in set.ranges() {
                    mine.remove(*r);
                }
            }
        }
        self.normalise();
    }

    /// `self + other` as a new bundle.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.add(other);
        r
    }

    /// `self - other` as a new bundle (floored at zero).
    pub fn minus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.subtract(other);
        r
    }

    /// The share of `total` this bundle represents on its dominant resource:
    /// the largest `self[r] / total[r]` over scalars and range counts. This is
    /// the quantity DRF equalises.
    pub fn dominant_share(&self, total: &Resources) -> f64 {
        let mut share: f64 = 0.0;
        for (k, v) in &self.scalars {
            if let Some(t) = total.scalars.get(k).filter(|t| **t > 0) {
                share = share.max(*v as f64 / *t as f64);
            }
        }
        for (k, set) in &self.ranges {
            if let Some(t) = total.ranges.get(k).map(RangeSet::count).filter(|t| *t > 0) {
                share = share.max(set.count() as f64 / t as f64);
            }
        }
        share
    }

    fn normalise(&mut self) {
        self.scalars.retain(|_, v| *v > 0);
        self.ranges.retain(|_, s| !s.is_empty());
    }
}

impl fmt::Display for Resources {
    /// The Mesos text form: `cpus:2;mem:512;ports:[31000-32000]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in self.scalars() {
            if !first {
                f.write_str(";")?;
            }
            first = false;
            write!(f, "{k}:{v}")?;
        }
        for (k, set) in self.range_sets() {
            if !first {
                f.write_str(";")?;
            }
            first = false;
            write!(f, "{k}:[")?;
            for (i, r) in set.ranges().iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{}-{}", r.begin, r.end)?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

impl FromStr for Resources {
    type Err = ResourceError;

    /// Parses the Mesos text form. Items are separated by `;`; a value in
    /// brackets is a list of ranges (`[31000-32000,33000-33010]`), any other
    /// value is a non-negative scalar. Role suffixes such as `cpus(*):2` are
    /// accepted for the default role `*` only: `cpus(analytics):4` reserves,
    /// and reservations are read by `RoleResources`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut res = Resources::new();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let err = |reason: &str| ResourceError::Parse {
                item: item.to_owned(),
                reason: reason.to_owned(),
            };
            let (name, value) = item
                .split_once(':')
                .ok_or_else(|| err("expected name:value"))?;
            let mut name = name.trim();
            if let Some((n, role)) = name.split_once('(') {
                if role.trim_end_matches(')') != "*" {
                    return Err(err(
                        "a role tag reserves resources, and only unreserved resources are accepted here",
                    ));
                }
                name = n;
            }
            if name.is_empty() {
                return Err(err("empty resource name"));
            }
            let value = value.trim();
            if let Some(inner) = value.strip_prefix('[') {
                let inner = inner
                    .strip_suffix(']')
                    .ok_or_else(|| err("unterminated range list"))?;
                for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (b, e) = part
                        .split_once('-')
                        .ok_or_else(|| err("range must be begin-end"))?;
                    let begin: u64 = b
                        .trim()
                        .parse()
                        .map_err(|_| err("range bound is not a number"))?;
                    let end: u64 = e
                        .trim()
                        .parse()
                        .map_err(|_| err("range bound is not a number"))?;
                    if begin > end {
                        return Err(err("range begin is after its end"));
                    }
                    res.add_range(name, Range { begin, end });
                }
            } else {
                let v: f64 = value.parse().map_err(|_| err("value is not a number"))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(err("value must be a finite non-negative number"));
                }
                res.add_scalar(name, v);
            }
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_mesos_text_form() {
        let r: Resources = "cpus:4;mem:8192;ports:[31000-32000]".parse().unwrap();
        assert_eq!(r.cpus(), 4.0);
        assert_eq!(r.mem(), 8192.0);
        assert_eq!(r.range_set("ports").unwrap().count(), 1001);
        assert_eq!(r.to_string(), "cpus:4;mem:8192;ports:[31000-32000]");
        let r2: Resources = r.to_string().parse().unwrap();
        assert_eq!(r, r2);
    }

    #[test]
    fn rejects_bad_text_with_the_item_named() {
        for bad in [
            "cpus",
            "cpus:abc",
            "cpus:-1",
            "ports:[5-1]",
            "ports:[1-2",
            "mem(web):3",
        ] {
            let e = bad.parse::<Resources>().unwrap_err();
            assert!(e.to_string().contains("invalid resource"), "{bad}: {e}");
        }
    }

    #[test]
    fn scalar_arithmetic_is_exact() {
        let mut r = Resources::new();
        for _ in 0..10 {
            r.add(&Resources::new().with_scalar("cpus", 0.1));
        }
        assert_eq!(r.cpus(), 1.0);
        r.subtract(&Resources::new().with_scalar("cpus", 0.3));
        assert_eq!(r.cpus(), 0.7);
    }

    #[test]
    fn ranges_split_and_merge() {
        let mut s = RangeSet::from_ranges([Range { begin: 10, end: 20 }]);
        s.remove(Range { begin: 15, end: 15 });
        assert_eq!(
            s.ranges(),
            &[Range { begin: 10, end: 14 }, Range { begin: 16, end: 20 }]
        );
        s.insert(Range { begin: 15, end: 15 });
        assert_eq!(s.ranges(), &[Range { begin: 10, end: 20 }]);
        assert!(s.contains(&RangeSet::from_ranges([Range { begin: 12, end: 18 }])));
        assert!(!s.contains(&RangeSet::from_ranges([Range { begin: 19, end: 21 }])));
    }

    #[test]
    fn dominant_share_takes_the_largest_fraction() {
        let total: Resources = "cpus:10;mem:1000".parse().unwrap();
        let used: Resources = "cpus:1;mem:500".parse().unwrap();
        assert_eq!(used.dominant_share(&total), 0.5);
    }

    fn arb_resources() -> impl Strategy<Value = Resources> {
        (
            0u32..8000,
            0u32..65536,
            proptest::collection::vec((0u64..200, 0u64..20), 0..4),
        )
            .prop_map(|(c, m, rs)| {
                let mut r = Resources::new()
                    .with_scalar("cpus", c as f64 / 1000.0)
                    .with_scalar("mem", m as f64);
                for (b, len) in rs {
                    r.add_range(
                        "ports",
                        Range {
                            begin: b,
                            end: b + len,
                        },
                    );
                }
                r
            })
    }

    proptest! {
        #[test]
        fn add_then_subtract_is_identity(a in arb_resources(), b in arb_resources()) {
            let sum = a.plus(&b);
            prop_assert!(sum.contains(&a));
            prop_assert!(sum.contains(&b));
            // Ranges may overlap, so only scalars are guaranteed to come back exactly.
            let back = sum.minus(&b);
            prop_assert_eq!(back.cpus(), a.cpus());
            prop_assert_eq!(back.mem(), a.mem());
        }

        #[test]
        fn text_form_round_trips(a in arb_resources()) {
            let parsed: Resources = a.to_string().parse().unwrap();
            prop_assert_eq!(parsed, a);
        }
    }
}
