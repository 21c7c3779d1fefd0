//! Cases timed in alternation, slice by slice, so that the ratios between them hold on a
//! shared machine.
//!
//! On a shared 2-core VM a run's CPU time moves by 20% and more from one second to the
//! next (other tenants' cache and memory traffic, frequency), so two cases timed one
//! after the other, each over the whole workload, can differ by more than what they are
//! measured for: the same code gave `wasm_vs_native` 1.00 and 1.47 in two runs. Here
//! the workload is cut into slices of a few batches (tens of milliseconds of work), every
//! case runs on a slice before any case moves to the next, the order of the cases turns
//! from slice to slice, and a ratio is the median of the slice-by-slice ratios: each pair
//! was timed within milliseconds of each other, and the median drops the pairs a burst
//! of someone else's work hit.

use std::ops::Range;

use super::Timing;
use crate::Error;

/// Batches per slice. At the default 1,000 events a batch, a slice of the demo pipeline
/// is ~40 ms of CPU: long against the clocks' resolution, short against the machine's
/// swings.
pub const SLICE_BATCHES: usize = 10;

/// One case: its name and what it does on slice `i` of the workload, timed.
pub struct Case<'a> {
    /// What is measured.
    pub name: String,
    /// Runs slice `i` (`0..slices`) and returns its timing.
    pub run: Box<dyn FnMut(usize) -> Result<Timing, Error> + 'a>,
}

impl<'a> Case<'a> {
    /// A case named `name` running `run` on each slice.
    pub fn new(name: impl Into<String>, run: impl FnMut(usize) -> Result<Timing, Error> + 'a) -> Case<'a> {
        Case { name: name.into(), run: Box::new(run) }
    }
}

/// Every case's timing of every slice in every round.
#[derive(Debug, Clone)]
pub struct Alternation {
    /// Case names, in the order given.
    pub names: Vec<String>,
    /// `timings[case][round * slices + slice]`.
    timings: Vec<Vec<Timing>>,
    slices: usize,
}

/// Runs `cases` over `slices` slices, `rounds` times, in alternation (see the module's
/// documentation). Slice 0 of the first round runs once untimed first, to warm up.
pub fn alternate(cases: &mut [Case<'_>], slices: usize, rounds: usize) -> Result<Alternation, Error> {
    let slices = slices.max(1);
    for case in cases.iter_mut() {
        (case.run)(0)?;
    }
    let mut timings = vec![Vec::with_capacity(slices * rounds.max(1)); cases.len()];
    let mut turn = 0;
    for _ in 0..rounds.max(1) {
        for slice in 0..slices {
            for k in 0..cases.len() {
                let case = (k + turn) % cases.len();
                timings[case].push((cases[case].run)(slice)?);
            }
            turn += 1;
        }
    }
    Ok(Alternation { names: cases.iter().map(|c| c.name.clone()).collect(), timings, slices })
}

/// A ratio between two cases over their slice-by-slice pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// The median of the pairs' ratios: the figure reported.
    pub median: f64,
    /// The first and third quartiles: how much the pairs disagreed.
    pub quartiles: (f64, f64),
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}  (middle half {:.2}–{:.2})", self.median, self.quartiles.0, self.quartiles.1)
    }
}

impl Alternation {
    /// Case `case`'s fastest run of each slice, added up: its time over the whole
    /// workload at its best, as a table row shows it.
    pub fn best(&self, case: usize) -> Timing {
        let runs = &self.timings[case];
        let mut total = Timing { wall: 0.0, cpu: 0.0 };
        for slice in 0..self.slices {
            let best = runs.iter().skip(slice).step_by(self.slices).fold(Timing::NONE, |best, &run| best.best(run));
            total.wall += best.wall;
            total.cpu += best.cpu;
        }
        total
    }

    /// CPU time of case `over` against case `under`, slice by slice in each round.
    pub fn ratio(&self, over: usize, under: usize) -> Ratio {
        let mut ratios: Vec<f64> = self.timings[over]
            .iter()
            .zip(&self.timings[under])
            .filter(|(_, u)| u.cpu > 0.0)
            .map(|(o, u)| o.cpu / u.cpu)
            .collect();
        ratios.sort_by(f64::total_cmp);
        Ratio {
            median: super::quantile(&ratios, 0.5),
            quartiles: (super::quantile(&ratios, 0.25), super::quantile(&ratios, 0.75)),
        }
    }
}

/// The slice count for `batches` batches: every batch in exactly one slice.
pub fn slices_of(batches: usize) -> usize {
    batches.div_ceil(SLICE_BATCHES).max(1)
}

/// The batches of slice `i` when `batches` batches are cut into `slices` equal runs (the
/// last one shorter). Cases on another batch size map it to events: batch `b` starts at
/// event `b * batch_size`.
pub fn batch_range(batches: usize, i: usize, slices: usize) -> Range<usize> {
    let per = batches.div_ceil(slices.max(1));
    let start = (i * per).min(batches);
    start..(start + per).min(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn cases_take_turns_slice_by_slice_and_every_slice_runs_every_round() {
        let log = RefCell::new(Vec::new());
        let timing = |cpu: f64| Timing { wall: cpu, cpu };
        let mut cases = vec![
            Case::new("a", |i| {
                log.borrow_mut().push(('a', i));
                Ok(timing(2.0 + i as f64))
            }),
            Case::new("b", |i| {
                log.borrow_mut().push(('b', i));
                Ok(timing(1.0))
            }),
        ];
        let run = alternate(&mut cases, 2, 2).unwrap();
        drop(cases);
        // The warm-up, then the order turning each slice.
        assert_eq!(
            *log.borrow(),
            [('a', 0), ('b', 0), ('a', 0), ('b', 0), ('b', 1), ('a', 1), ('a', 0), ('b', 0), ('b', 1), ('a', 1)]
        );
        assert_eq!(run.best(0).cpu, 2.0 + 3.0);
        assert_eq!(run.best(1).cpu, 2.0);
        // Pairs 2, 3, 2, 3: the median is taken from the pairs, not from the totals.
        let ratio = run.ratio(0, 1);
        assert!((2.0..=3.0).contains(&ratio.median), "{ratio:?}");
        assert_eq!(ratio.quartiles, (2.0, 3.0));
    }

    #[test]
    fn a_burst_in_one_pair_does_not_move_the_median() {
        let runs = RefCell::new(0);
        let mut cases = vec![
            Case::new("a", |_| {
                *runs.borrow_mut() += 1;
                // One run of five hit by someone else's work: ten times slower.
                let cpu = if *runs.borrow() == 3 { 13.0 } else { 1.3 };
                Ok(Timing { wall: cpu, cpu })
            }),
            Case::new("b", |_| Ok(Timing { wall: 1.0, cpu: 1.0 })),
        ];
        let run = alternate(&mut cases, 4, 1).unwrap();
        assert!((run.ratio(0, 1).median - 1.3).abs() < 1e-9);
    }

    #[test]
    fn slices_cover_every_batch_once() {
        for batches in [0, 1, 9, 10, 11, 23, 50] {
            let slices = slices_of(batches);
            let joined: Vec<usize> = (0..slices).flat_map(|i| batch_range(batches, i, slices)).collect();
            assert_eq!(joined, (0..batches).collect::<Vec<_>>(), "{batches} batches");
            assert!((0..slices).all(|i| batch_range(batches, i, slices).len() <= SLICE_BATCHES));
        }
    }
}
