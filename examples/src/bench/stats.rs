//! Figures of one run, percentiles, and the median of each figure over several runs.

use std::fmt::Write as _;

/// One named measurement of a run (latencies in ms, memory in MB, counts as they are).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// What was measured, e.g. `latency p99`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit (`ms`, `MB`, `count`, `req/s`, ...).
    pub unit: String,
}

/// The figures of one run, in the order they were measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures(pub Vec<Figure>);

impl Figures {
    /// Adds one figure.
    pub fn push(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.0.push(Figure {
            name: name.into(),
            value,
            unit: unit.to_owned(),
        });
    }

    /// Adds `<what> p50/p90/p99/max` (and the sample count) of `samples` in milliseconds.
    pub fn latencies(&mut self, what: &str, samples: &[f64]) {
        let s = Percentiles::of(samples);
        self.push(format!("{what} n"), samples.len() as f64, "count");
        self.push(format!("{what} p50"), s.p50, "ms");
        self.push(format!("{what} p90"), s.p90, "ms");
        self.push(format!("{what} p99"), s.p99, "ms");
        self.push(format!("{what} max"), s.max, "ms");
    }

    /// One `name<TAB>value<TAB>unit` line per figure (how a child run hands its figures back).
    pub fn to_tsv(&self) -> String {
        self.0
            .iter()
            .map(|f| format!("{}\t{}\t{}\n", f.name, f.value, f.unit))
            .collect()
    }

    /// Parses [`Figures::to_tsv`].
    pub fn from_tsv(text: &str) -> Figures {
        let figures = text.lines().filter_map(|l| {
            let mut it = l.split('\t');
            let (name, value, unit) = (it.next()?, it.next()?.parse().ok()?, it.next()?);
            Some(Figure {
                name: name.to_owned(),
                value,
                unit: unit.to_owned(),
            })
        });
        Figures(figures.collect())
    }

    /// The value of the figure called `name`, if measured.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|f| f.name == name).map(|f| f.value)
    }
}

/// p50 / p90 / p99 / max of a sample (nearest-rank; zeros for an empty sample).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

impl Percentiles {
    /// Computes the percentiles of `samples`.
    pub fn of(samples: &[f64]) -> Percentiles {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[i.clamp(1, v.len()) - 1]
        };
        Percentiles {
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: v[v.len() - 1],
        }
    }
}

/// The median of `values` (mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A table of the figures of every run with, per figure, the median over the runs.
pub fn report(runs: &[Figures]) -> String {
    let mut out = String::new();
    let Some(first) = runs.first() else {
        return out;
    };
    let width = first
        .0
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let _ = write!(out, "{:width$}  {:>10}", "figure", "median");
    for i in 0..runs.len() {
        let _ = write!(out, "  {:>10}", format!("run {}", i + 1));
    }
    let _ = writeln!(out, "  unit");
    for f in &first.0 {
        let values: Vec<f64> = runs.iter().filter_map(|r| r.get(&f.name)).collect();
        let _ = write!(out, "{:width$}  {:>10}", f.name, fmt_value(median(&values)));
        for v in &values {
            let _ = write!(out, "  {:>10}", fmt_value(*v));
        }
        let _ = writeln!(out, "  {}", f.unit);
    }
    out
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }

    #[test]
    fn tsv_round_trip() {
        let mut f = Figures::default();
        f.push("a b", 1.5, "ms");
        f.push("c", -2.0, "%");
        assert_eq!(Figures::from_tsv(&f.to_tsv()), f);
    }

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn report_has_median_column() {
        let mut a = Figures::default();
        a.push("x", 1.0, "ms");
        let mut b = Figures::default();
        b.push("x", 3.0, "ms");
        let mut c = Figures::default();
        c.push("x", 2.0, "ms");
        let table = report(&[a, b, c]);
        let line = table.lines().nth(1).unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols, ["x", "2", "1", "3", "2", "ms"]);
    }
}
