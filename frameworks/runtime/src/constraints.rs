//! Marathon placement constraints over an agent's hostname and attributes.
//!
//! A constraint is `[field, OPERATOR, value?]`. `field` is `hostname` (the offer's hostname)
//! or the name of an agent attribute. Checking a candidate offer needs the placements of the
//! tasks already running (or being placed) for the same app.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use strata_client::v1;

/// Where a task is, or could be, placed: what constraints look at.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// The agent's hostname.
    pub hostname: &'a str,
    /// The agent's attributes.
    pub attributes: &'a [v1::Attribute],
}

impl Placement<'_> {
    /// The value of `field` here: the hostname for `hostname`, else the attribute's value
    /// as text (`None` when the agent has no such attribute).
    pub fn value_of(&self, field: &str) -> Option<String> {
        if field == "hostname" {
            return Some(self.hostname.to_owned());
        }
        self.attributes
            .iter()
            .find(|a| a.name == field)
            .map(attribute_text)
    }
}

/// An attribute's value in text form: TEXT as is, SCALAR as a number (`3`, `2.5`), RANGES
/// as `[a-b,c-d]`, SET as `{a,b}`.
pub fn attribute_text(a: &v1::Attribute) -> String {
    if let Some(t) = &a.text {
        return t.value.clone();
    }
    if let Some(s) = &a.scalar {
        return format_number(s.value);
    }
    if let Some(r) = &a.ranges {
        let parts: Vec<String> = r
            .range
            .iter()
            .map(|r| format!("{}-{}", r.begin, r.end))
            .collect();
        return format!("[{}]", parts.join(","));
    }
    if let Some(s) = &a.set {
        return format!("{{{}}}", s.item.join(","));
    }
    String::new()
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The operator of a constraint.
#[derive(Debug, Clone)]
pub enum Operator {
    /// No two tasks share the field's value.
    Unique,
    /// Every task has the field equal to the value (or, without a value, to the first
    /// task's).
    Cluster(Option<String>),
    /// Tasks spread evenly over the field's values, expecting at least this many groups.
    GroupBy(u32),
    /// The field's value matches the regular expression (whole value).
    Like(Regex),
    /// The field's value does not match the regular expression (a missing field passes).
    Unlike(Regex),
    /// At most this many tasks per value of the field.
    MaxPer(u32),
    /// The field's value is exactly the value.
    Is(String),
}

impl Operator {
    /// The operator's Marathon name.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster(_) => "CLUSTER",
            Operator::GroupBy(_) => "GROUP_BY",
            Operator::Like(_) => "LIKE",
            Operator::Unlike(_) => "UNLIKE",
            Operator::MaxPer(_) => "MAX_PER",
            Operator::Is(_) => "IS",
        }
    }
}

/// One placement constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// `hostname` or an attribute name.
    pub field: String,
    /// What must hold of the field.
    pub operator: Operator,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.field, self.operator.name())?;
        match &self.operator {
            Operator::Cluster(Some(v)) | Operator::Is(v) => write!(f, ":{v}"),
            Operator::Like(r) | Operator::Unlike(r) => {
                let s = r.as_str();
                write!(f, ":{}", &s[4..s.len() - 2])
            }
            Operator::GroupBy(n) if *n > 0 => write!(f, ":{n}"),
            Operator::MaxPer(n) => write!(f, ":{n}"),
            _ => Ok(()),
        }
    }
}

impl Constraint {
    /// Parses `field`, `operator` and the optional value, as Marathon accepts them. The
    /// error says what is wrong, for a 422 answer.
    pub fn parse(field: &str, operator: &str, value: Option<&str>) -> Result<Self, String> {
        if field.is_empty() {
            return Err("constraint field must not be empty".into());
        }
        let need_value = |op: &str| {
            value
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("{op} constraint requires a value"))
        };
        let count = |op: &str, v: Option<&str>, default: Option<u32>| match v {
            None | Some("") => default.ok_or_else(|| format!("{op} constraint requires a value")),
            Some(v) => v.trim().parse::<u32>().map_err(|_| {
                format!("{op} constraint value must be a non-negative integer, got {v:?}")
            }),
        };
        let regex = |op: &str| -> Result<Regex, String> {
            let v = need_value(op)?;
            Regex::new(&format!("^(?:{v})$")).map_err(|e| {
                format!("{op} constraint value {v:?} is not a valid regular expression: {e}")
            })
        };
        let operator = match operator {
            "UNIQUE" => Operator::Unique,
            "CLUSTER" => Operator::Cluster(value.filter(|v| !v.is_empty()).map(str::to_owned)),
            "GROUP_BY" => Operator::GroupBy(count("GROUP_BY", value, Some(0))?),
            "LIKE" => Operator::Like(regex("LIKE")?),
            "UNLIKE" => Operator::Unlike(regex("UNLIKE")?),
            "MAX_PER" => Operator::MaxPer(count("MAX_PER", value, None)?),
            "IS" => Operator::Is(need_value("IS")?),
            other => {
                return Err(format!(
                    "unknown constraint operator {other:?} (expected one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS)"
                ))
            }
        };
        Ok(Constraint {
            field: field.to_owned(),
            operator,
        })
    }

    /// Whether placing one more task at `candidate` keeps the constraint, given where the
    /// app's other tasks are (`placed`).
    pub fn is_met(&self, candidate: &Placement<'_>, placed: &[Placement<'_>]) -> bool {
        let value = candidate.value_of(&self.field);
        let Some(value) = value else {
            return matches!(self.operator, Operator::Unlike(_));
        };
        let others = || placed.iter().filter_map(|p| p.value_of(&self.field));
        match &self.operator {
            Operator::Unique => others().all(|v| v != value),
            Operator::Cluster(Some(want)) | Operator::Is(want) => same_value(&value, want),
            Operator::Cluster(None) => others().all(|v| v == value),
            Operator::Like(re) => re.is_match(&value),
            Operator::Unlike(re) => !re.is_match(&value),
            Operator::MaxPer(n) => (others().filter(|v| *v == value).count() as u64) < *n as u64,
            Operator::GroupBy(minimum) => {
                let mut groups: BTreeMap<String, usize> = BTreeMap::new();
                for v in others() {
                    *groups.entry(v).or_default() += 1;
                }
                let min_count = groups.values().copied().min().unwrap_or(0);
                match groups.get(&value) {
                    // A value no task has yet is always welcome.
                    None => true,
                    Some(count) => groups.len() >= *minimum as usize && *count == min_count,
                }
            }
        }
    }
}

/// Text equality, or numeric equality when both sides are numbers (`3` is `3.0`).
fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Whether every constraint is met at `candidate`.
pub fn all_met(
    constraints: &[Constraint],
    candidate: &Placement<'_>,
    placed: &[Placement<'_>],
) -> bool {
    constraints.iter().all(|c| c.is_met(candidate, placed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, value: &str) -> v1::Attribute {
        v1::Attribute {
            name: name.into(),
            r#type: v1::ValueType::Text as i32,
            text: Some(v1::ValueText {
                value: value.into(),
            }),
            ..Default::default()
        }
    }

    fn scalar(name: &str, value: f64) -> v1::Attribute {
        v1::Attribute {
            name: name.into(),
            r#type: v1::ValueType::Scalar as i32,
            scalar: Some(v1::ValueScalar { value }),
            ..Default::default()
        }
    }

    struct Agent {
        host: &'static str,
        attrs: Vec<v1::Attribute>,
    }

    impl Agent {
        fn at(&self) -> Placement<'_> {
            Placement {
                hostname: self.host,
                attributes: &self.attrs,
            }
        }
    }

    fn agents() -> Vec<Agent> {
        vec![
            Agent {
                host: "a",
                attrs: vec![text("rack", "r1"), scalar("level", 3.0)],
            },
            Agent {
                host: "b",
                attrs: vec![text("rack", "r1"), scalar("level", 2.0)],
            },
            Agent {
                host: "c",
                attrs: vec![text("rack", "r2")],
            },
        ]
    }

    fn c(field: &str, op: &str, value: Option<&str>) -> Constraint {
        Constraint::parse(field, op, value).unwrap()
    }

    /// Which agents accept one more task, given tasks on `placed` (indices into agents()).
    fn check(constraint: Constraint, placed: &[usize]) -> String {
        let agents = agents();
        let placed: Vec<Placement<'_>> = placed.iter().map(|i| agents[*i].at()).collect();
        agents
            .iter()
            .filter(|a| constraint.is_met(&a.at(), &placed))
            .map(|a| a.host)
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn unique() {
        assert_eq!(check(c("hostname", "UNIQUE", None), &[]), "a,b,c");
        assert_eq!(check(c("hostname", "UNIQUE", None), &[0]), "b,c");
        assert_eq!(check(c("rack", "UNIQUE", None), &[0]), "c");
        assert_eq!(check(c("rack", "UNIQUE", None), &[0, 2]), "");
    }

    #[test]
    fn cluster() {
        assert_eq!(check(c("rack", "CLUSTER", Some("r2")), &[]), "c");
        assert_eq!(check(c("rack", "CLUSTER", None), &[]), "a,b,c");
        assert_eq!(check(c("rack", "CLUSTER", None), &[1]), "a,b");
        assert_eq!(check(c("hostname", "CLUSTER", Some("b")), &[]), "b");
    }

    #[test]
    fn group_by() {
        assert_eq!(check(c("rack", "GROUP_BY", None), &[]), "a,b,c");
        // As in Marathon: with one group known and no expected count, it may grow.
        assert_eq!(check(c("rack", "GROUP_BY", None), &[0]), "a,b,c");
        assert_eq!(check(c("rack", "GROUP_BY", Some("2")), &[0]), "c");
        assert_eq!(check(c("rack", "GROUP_BY", None), &[0, 2]), "a,b,c");
        assert_eq!(check(c("rack", "GROUP_BY", None), &[0, 1, 2]), "c");
        // Expecting 3 groups while only 2 exist: only values not yet used are welcome.
        assert_eq!(check(c("hostname", "GROUP_BY", Some("3")), &[0, 1]), "c");
    }

    #[test]
    fn like_and_unlike_match_whole_values_and_treat_missing_fields() {
        assert_eq!(check(c("rack", "LIKE", Some("r[12]")), &[]), "a,b,c");
        assert_eq!(check(c("rack", "LIKE", Some("r")), &[]), "");
        assert_eq!(check(c("hostname", "UNLIKE", Some("a|b")), &[]), "c");
        assert_eq!(check(c("level", "LIKE", Some("3")), &[]), "a");
        // An agent without the attribute passes UNLIKE and fails LIKE.
        assert_eq!(check(c("level", "UNLIKE", Some("3")), &[]), "b,c");
    }

    #[test]
    fn max_per_and_is() {
        assert_eq!(check(c("rack", "MAX_PER", Some("2")), &[0]), "a,b,c");
        assert_eq!(check(c("rack", "MAX_PER", Some("2")), &[0, 1]), "c");
        assert_eq!(check(c("hostname", "MAX_PER", Some("1")), &[2]), "a,b");
        assert_eq!(check(c("level", "IS", Some("2")), &[]), "b");
        assert_eq!(check(c("level", "IS", Some("3.0")), &[]), "a");
        assert_eq!(check(c("rack", "IS", Some("r2")), &[]), "c");
    }

    #[test]
    fn bad_constraints_say_why() {
        let err = |f: &str, o: &str, v: Option<&str>| Constraint::parse(f, o, v).unwrap_err();
        assert!(err("rack", "NEAR", None).contains("unknown constraint operator"));
        assert!(err("rack", "LIKE", Some("(")).contains("not a valid regular expression"));
        assert!(err("rack", "MAX_PER", Some("x")).contains("non-negative integer"));
        assert!(err("rack", "MAX_PER", None).contains("requires a value"));
        assert!(err("rack", "IS", None).contains("requires a value"));
        assert!(err("", "UNIQUE", None).contains("field"));
    }

    #[test]
    fn displays_as_marathon_triples() {
        assert_eq!(
            c("rack", "LIKE", Some("r[12]")).to_string(),
            "rack:LIKE:r[12]"
        );
        assert_eq!(c("hostname", "UNIQUE", None).to_string(), "hostname:UNIQUE");
        assert_eq!(
            c("rack", "MAX_PER", Some("2")).to_string(),
            "rack:MAX_PER:2"
        );
    }
}
