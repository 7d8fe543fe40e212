//! The allocator's own compact resource bundles.
//!
//! [`Resources`] keys its amounts by `String` in `BTreeMap`s: right for an
//! API type, about a kilobyte per bundle and a string comparison per
//! operation. The allocator keeps a total, a free pool and allocations for
//! every agent, so at 50,000 agents that alone would pass the memory budget.
//! Inside, resource names are interned to small integers ([`Names`]) and a
//! bundle is two short sorted vectors ([`Res`]); conversion happens only at
//! the API boundary.

use std::collections::HashMap;

use strata_api::{RangeSet, Resources};

/// An interned resource name.
pub(crate) type Name = u32;

/// The interned name of `cpus`, known to every [`Names`].
pub(crate) const CPUS: Name = 0;
/// The interned name of `mem`, known to every [`Names`].
pub(crate) const MEM: Name = 1;

/// Resource names seen by one allocator, each given a [`Name`] for good.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    names: Vec<String>,
    index: HashMap<String, Name>,
}

impl Default for Names {
    fn default() -> Self {
        let mut names = Self {
            names: Vec::new(),
            index: HashMap::new(),
        };
        names.intern("cpus");
        names.intern("mem");
        names
    }
}

impl Names {
    pub(crate) fn intern(&mut self, name: &str) -> Name {
        if let Some(n) = self.index.get(name) {
            return *n;
        }
        // More than four billion distinct resource names cannot be reached
        // by any real cluster; saturate rather than panic.
        let n = Name::try_from(self.names.len()).unwrap_or(Name::MAX);
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), n);
        n
    }

    pub(crate) fn name(&self, n: Name) -> &str {
        self.names.get(n as usize).map_or("?", String::as_str)
    }

    /// Converts API resources, interning new names.
    pub(crate) fn res(&mut self, r: &Resources) -> Res {
        let mut out = Res::default();
        for (name, amount) in r.scalars() {
            let n = self.intern(name);
            out.add_scalar(n, to_milli(amount));
        }
        for (name, set) in r.range_sets() {
            let n = self.intern(name);
            out.add_ranges(n, set);
        }
        out
    }

    /// Converts API resources without interning: names never seen cannot be
    /// held by anybody, so they are dropped (used where the caller asks for
    /// something back, which can only be what is known).
    pub(crate) fn known(&self, r: &Resources) -> Res {
        let mut out = Res::default();
        for (name, amount) in r.scalars() {
            if let Some(n) = self.index.get(name) {
                out.add_scalar(*n, to_milli(amount));
            }
        }
        for (name, set) in r.range_sets() {
            if let Some(n) = self.index.get(name) {
                out.add_ranges(*n, set);
            }
        }
        out
    }

    /// Converts back to API resources.
    pub(crate) fn resources(&self, r: &Res) -> Resources {
        let mut out = Resources::new();
        for (n, m) in &r.scalars {
            out.add_scalar(self.name(*n), *m as f64 / 1000.0);
        }
        for (n, set) in &r.ranges {
            for range in set.ranges() {
                out.add_range(self.name(*n), *range);
            }
        }
        out
    }
}

/// Same rounding as `strata_api::Resources`, whose amounts are thousandths.
fn to_milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// A bundle: scalars in thousandths and range sets, each sorted by name and
/// never holding a zero amount or an empty set, so equal bundles compare
/// equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Res {
    scalars: Vec<(Name, i64)>,
    ranges: Vec<(Name, RangeSet)>,
}

impl Res {
    pub(crate) fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.ranges.is_empty()
    }

    /// The amount of scalar `n` in thousandths.
    pub(crate) fn scalar(&self, n: Name) -> i64 {
        match self.scalars.binary_search_by_key(&n, |(k, _)| *k) {
            Ok(i) => self.scalars[i].1,
            Err(_) => 0,
        }
    }

    pub(crate) fn scalars(&self) -> impl Iterator<Item = (Name, i64)> + '_ {
        self.scalars.iter().copied()
    }

    /// Adds `m` thousandths of `n` (negative subtracts, floored at zero).
    pub(crate) fn add_scalar(&mut self, n: Name, m: i64) {
        match self.scalars.binary_search_by_key(&n, |(k, _)| *k) {
            Ok(i) => {
                let v = (self.scalars[i].1 + m).max(0);
                if v == 0 {
                    self.scalars.remove(i);
                } else {
                    self.scalars[i].1 = v;
                }
            }
            Err(i) => {
                if m > 0 {
                    self.scalars.insert(i, (n, m));
                }
            }
        }
    }

    /// Sets scalar `n` to `m` thousandths (zero removes it).
    pub(crate) fn set_scalar(&mut self, n: Name, m: i64) {
        match self.scalars.binary_search_by_key(&n, |(k, _)| *k) {
            Ok(i) if m <= 0 => {
                self.scalars.remove(i);
            }
            Ok(i) => self.scalars[i].1 = m,
            Err(i) if m > 0 => self.scalars.insert(i, (n, m)),
            Err(_) => {}
        }
    }

    fn add_ranges(&mut self, n: Name, set: &RangeSet) {
        if set.is_empty() {
            return;
        }
        match self.ranges.binary_search_by_key(&n, |(k, _)| *k) {
            Ok(i) => {
                for r in set.ranges() {
                    self.ranges[i].1.insert(*r);
                }
            }
            Err(i) => self.ranges.insert(i, (n, set.clone())),
        }
    }

    fn remove_ranges(&mut self, n: Name, set: &RangeSet) {
        if let Ok(i) = self.ranges.binary_search_by_key(&n, |(k, _)| *k) {
            for r in set.ranges() {
                self.ranges[i].1.remove(*r);
            }
            if self.ranges[i].1.is_empty() {
                self.ranges.remove(i);
            }
        }
    }

    pub(crate) fn add(&mut self, other: &Res) {
        for (n, m) in &other.scalars {
            self.add_scalar(*n, *m);
        }
        for (n, set) in &other.ranges {
            self.add_ranges(*n, set);
        }
    }

    /// Removes `other`, flooring scalars at zero and ignoring absent values.
    pub(crate) fn subtract(&mut self, other: &Res) {
        for (n, m) in &other.scalars {
            self.add_scalar(*n, -m);
        }
        for (n, set) in &other.ranges {
            self.remove_ranges(*n, set);
        }
    }

    pub(crate) fn plus(&self, other: &Res) -> Res {
        let mut r = self.clone();
        r.add(other);
        r
    }

    pub(crate) fn minus(&self, other: &Res) -> Res {
        let mut r = self.clone();
        r.subtract(other);
        r
    }

    pub(crate) fn contains(&self, other: &Res) -> bool {
        other.scalars.iter().all(|(n, m)| self.scalar(*n) >= *m)
            && other.ranges.iter().all(|(n, set)| {
                self.ranges
                    .binary_search_by_key(n, |(k, _)| *k)
                    .is_ok_and(|i| self.ranges[i].1.contains(set))
            })
    }

    /// `self ∩ other`: the smaller amount of every scalar, the common values
    /// of every range set.
    pub(crate) fn intersection(&self, other: &Res) -> Res {
        self.minus(&self.minus(other))
    }

    /// Amounts for share arithmetic: scalars as they are and every range
    /// set as a scalar of its number of values (in thousandths, like the
    /// scalars). Range sets cannot be summed across agents (every agent may
    /// own ports 31000-32000), their counts can.
    pub(crate) fn quantities(&self) -> Res {
        if self.ranges.is_empty() {
            return Res {
                scalars: self.scalars.clone(),
                ranges: Vec::new(),
            };
        }
        let mut q = Res {
            scalars: self.scalars.clone(),
            ranges: Vec::new(),
        };
        for (n, set) in &self.ranges {
            let count = i64::try_from(set.count()).unwrap_or(i64::MAX / 2000);
            q.add_scalar(*n, count.saturating_mul(1000));
        }
        q
    }

    /// Only the scalars.
    pub(crate) fn scalar_part(&self) -> Res {
        Res {
            scalars: self.scalars.clone(),
            ranges: Vec::new(),
        }
    }

    /// The largest `self[n] / total[n]` over scalars (both bundles being
    /// [quantities](Res::quantities)); resources the total lacks are ignored.
    pub(crate) fn dominant_share(&self, total: &Res) -> f64 {
        let mut share: f64 = 0.0;
        let mut t = total.scalars.iter().peekable();
        for (n, m) in &self.scalars {
            while t.next_if(|(k, _)| k < n).is_some() {}
            if let Some((_, tm)) = t.peek().filter(|(k, _)| k == n) {
                if *tm > 0 {
                    share = share.max(*m as f64 / *tm as f64);
                }
            }
        }
        share
    }

    /// `max(self - other, 0)` for each scalar, ranges ignored.
    pub(crate) fn scalars_minus(&self, other: &Res) -> Res {
        let mut r = self.scalar_part();
        for (n, m) in &other.scalars {
            r.add_scalar(*n, -m);
        }
        r
    }

    /// The larger amount of every scalar, ranges ignored.
    pub(crate) fn scalars_max(&self, other: &Res) -> Res {
        let mut r = self.scalar_part();
        for (n, m) in &other.scalars {
            if *m > r.scalar(*n) {
                r.set_scalar(*n, *m);
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(names: &mut Names, s: &str) -> Res {
        names.res(&s.parse().unwrap())
    }

    #[test]
    fn round_trips_through_resources() {
        let mut names = Names::default();
        for text in [
            "",
            "cpus:0.001",
            "cpus:4;mem:4096;disk:10;gpus:1;ports:[1-5,7-9]",
        ] {
            let r: Resources = text.parse().unwrap();
            let back = names.res(&r);
            assert_eq!(names.resources(&back), r, "{text}");
        }
    }

    #[test]
    fn arithmetic_matches_the_api_type() {
        let mut n = Names::default();
        let a = res(&mut n, "cpus:4;mem:100;ports:[1-10]");
        let b = res(&mut n, "cpus:1.5;gpus:1;ports:[5-20]");
        assert_eq!(
            n.resources(&a.plus(&b)).to_string(),
            "cpus:5.5;gpus:1;mem:100;ports:[1-20]"
        );
        assert_eq!(
            n.resources(&a.minus(&b)).to_string(),
            "cpus:2.5;mem:100;ports:[1-4]"
        );
        assert_eq!(
            n.resources(&a.intersection(&b)).to_string(),
            "cpus:1.5;ports:[5-10]"
        );
        assert!(a.contains(&res(&mut n, "cpus:4;ports:[2-3]")));
        assert!(!a.contains(&res(&mut n, "cpus:4;ports:[10-11]")));
        assert!(!a.contains(&res(&mut n, "gpus:1")));
        let q = a.quantities();
        assert_eq!(n.resources(&q).to_string(), "cpus:4;mem:100;ports:10");
        let total = res(&mut n, "cpus:8;mem:1000;ports:20");
        assert_eq!(q.dominant_share(&total), 0.5);
        assert!(a.minus(&a).is_empty());
    }
}
