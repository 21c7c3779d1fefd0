//! The Fluent Bit plugin's chunk path, measured three ways on the same records.

use std::path::Path;
use std::sync::Arc;

use super::alternate::{self, Case, Ratio};
use super::{Options, Timing, Workload};
use crate::emit::{Place, Stamp};
use crate::engine::Engine;
use crate::fluent_bit::filter::ChunkPass;
use crate::intake::Intake;
use crate::pass::Passed;
use crate::tools::native;
use crate::{Error, Pipeline, Runner};

/// The Fluent Bit filter's cost per record, three ways on the same records.
#[derive(Debug, Clone)]
pub struct FluentBitReport {
    /// Records measured.
    pub records: usize,
    /// CPU seconds for the plugin's path: one pipeline call per chunk.
    pub plugin: f64,
    /// CPU seconds for filter_wasm's approach: one call per record.
    pub per_record: f64,
    /// CPU seconds for the same rules natively, per chunk.
    pub native: f64,
    /// CPU seconds for the pipeline alone on the same events as NDJSON, as `run`
    /// measures it.
    pub pipeline: f64,
    /// The plugin's path against the pipeline alone, slice by slice.
    pub vs_pipeline: Ratio,
}

/// A fixed runner with the plugin's default stamp, for the chunk path.
struct FixedPass {
    runner: Runner,
    stamp: Stamp,
}

impl ChunkPass for FixedPass {
    fn run(&mut self, intake: Intake) -> Passed {
        Passed::run(&mut self.runner, intake)
    }

    fn stamp(&self) -> &Stamp {
        &self.stamp
    }
}

impl FixedPass {
    fn new(runner: Runner) -> FixedPass {
        let stamp = Stamp::version_at(&Place::default(), &runner.pipeline().id);
        FixedPass { runner, stamp }
    }
}

/// `lines` (JSON objects) as a Fluent Bit chunk of v2 records, `[[EventTime, {}], body]`,
/// their times one second apart: what the benchmark and `examples/profile.rs` feed the
/// plugin's chunk path.
pub fn chunk_of<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    use crate::fluent_bit::msgpack;
    let mut chunk = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        let tape = firehose_json::tape_of(line).expect("the events are valid JSON objects");
        let mut header = vec![0x92, 0xd7, 0x00];
        header.extend_from_slice(&(1_700_000_000u32 + i as u32).to_be_bytes());
        header.extend_from_slice(&0u32.to_be_bytes());
        header.push(0x80);
        msgpack::encode_record(&header, &firehose_json::Event::new(line, &tape), &mut chunk);
    }
    chunk
}

/// Measures the Fluent Bit plugin's chunk path (msgpack → JSON → pipeline → msgpack)
/// against the same path one record at a time (what Fluent Bit's `filter_wasm` does:
/// one call per record), against the same rules compiled natively, on the same v2
/// msgpack records (all three run the plugin's own chunk code), and against the
/// pipeline alone on the same events as NDJSON; all four in alternation.
pub fn measure_fluent_bit(
    engine: &Arc<Engine>,
    pipeline_path: &Path,
    options: &Options,
) -> Result<FluentBitReport, Error> {
    use crate::fluent_bit::filter::{Filter, filter_chunk};
    use crate::fluent_bit::msgpack;

    let records = options.events.min(50_000);
    let workload = Workload::generate(records, options.seed, options.batch_size);
    let chunks: Vec<Vec<u8>> =
        workload.batches.iter().map(|batch| chunk_of(batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()))).collect();
    // The same records one per chunk, as filter_wasm sees them.
    let singles: Vec<Vec<u8>> = chunks
        .iter()
        .flat_map(|chunk| {
            let records = msgpack::records(chunk).expect("valid chunk");
            records
                .into_iter()
                .map(|record| match record {
                    msgpack::Record::Log(log) => chunk[log.span].to_vec(),
                    msgpack::Record::Other { span } => chunk[span].to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let path = pipeline_path.display().to_string();
    let dead_letters = std::env::temp_dir().join("firehose-bench-dead-letters.ndjson").display().to_string();
    let mut filter = Filter::start(|key: &str| match key {
        "pipeline" => Some(path.clone()),
        "watch" => Some("off".into()),
        "dead_letter" => Some(dead_letters.clone()),
        _ => None,
    })
    .map_err(|e| Error::Pipeline { path: pipeline_path.to_path_buf(), message: crate::error::report(&e) })?;
    let pipeline = Pipeline::load(engine, pipeline_path)?;
    let mut per_record_pass = FixedPass::new(pipeline.runner());
    let mut native_pass = FixedPass::new(native::runner(&pipeline)?);
    let run = |pass: &mut FixedPass, chunks: &[Vec<u8>]| {
        let mut dead = Vec::new();
        for chunk in chunks {
            dead.clear();
            std::hint::black_box(filter_chunk(pass, "bench", chunk, &mut dead).expect("valid chunk"));
        }
    };
    let slices = alternate::slices_of(chunks.len());
    let range = |i| alternate::batch_range(chunks.len(), i, slices);
    // A record of the one-per-chunk case for every record of a chunk.
    let records_of = |i| {
        let chunks = range(i);
        chunks.start * options.batch_size..(chunks.end * options.batch_size).min(singles.len())
    };
    let mut cases = vec![
        Case::new("plugin", |i| {
            Ok(Timing::of_thread(|| {
                for chunk in &chunks[range(i)] {
                    std::hint::black_box(filter.process("bench", chunk).expect("valid chunk"));
                }
            }))
        }),
        Case::new("per record", |i| Ok(Timing::of_thread(|| run(&mut per_record_pass, &singles[records_of(i)])))),
        Case::new("native", |i| Ok(Timing::of_thread(|| run(&mut native_pass, &chunks[range(i)])))),
        super::batches_case("pipeline alone", pipeline.runner(), &workload.batches, range),
    ];
    let side_by_side = alternate::alternate(&mut cases, slices, options.repeats)?;
    drop(cases);
    let [plugin, per_record, native, pipeline] = [0, 1, 2, 3].map(|case| side_by_side.best(case).cpu);
    let vs_pipeline = side_by_side.ratio(0, 3);
    Ok(FluentBitReport { records, plugin, per_record, native, pipeline, vs_pipeline })
}
