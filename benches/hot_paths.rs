//! Criterion benches for the functions every event goes through: intake validation,
//! JSONPath lookups, the walk with path matching, each PII detector, masking, and the
//! output stamp. Run with `cargo bench --bench hot_paths`; throughput is per event.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use firehose::emit::{Place, Stamp};
use firehose::intake::{self, Intake};
use firehose::tools::generate::Generator;
use firehose_sdk::json::{self, Event, Path, PathMatcher, Value, Visitor, Walker};
use firehose_sdk::pii::{Detectors, Masker, PiiKind, Strategy};

fn events(n: usize) -> Vec<String> {
    let mut generator = Generator::new(42);
    (0..n).map(|_| generator.next_event()).collect()
}

fn tapes(events: &[String]) -> Vec<Vec<u32>> {
    events.iter().map(|e| json::tape_of(e.as_bytes()).unwrap()).collect()
}

fn intake(c: &mut Criterion) {
    let events = events(1000);
    let text: Vec<u8> = events.iter().flat_map(|e| e.bytes().chain(std::iter::once(b'\n'))).collect();
    let mut group = c.benchmark_group("intake");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("validate (1000 events)", |b| {
        b.iter(|| events.iter().all(|e| json::validate(e.as_bytes()).is_ok()))
    });
    group.bench_function("validate and build tapes (1000 events)", |b| {
        let mut tape = Vec::new();
        b.iter(|| events.iter().all(|e| json::validate_event(e.as_bytes(), &mut tape).is_ok()))
    });
    group.bench_function("serde_json IgnoredAny (1000 events, reference)", |b| {
        b.iter(|| events.iter().all(|e| serde_json::from_str::<serde::de::IgnoredAny>(e).is_ok()))
    });
    group.bench_function("ndjson split + validate + copy (1000 events)", |b| {
        b.iter_batched(Intake::default, |mut into| intake::ndjson(&text, 1, &mut into), BatchSize::SmallInput)
    });
    group.finish();
}

fn lookups(c: &mut Criterion) {
    let events = events(1000);
    let tapes = tapes(&events);
    let mut group = c.benchmark_group("jsonpath");
    group.throughput(Throughput::Elements(events.len() as u64));
    for path in ["$.event_type", "$.lead_data.state", "$.metadata.buyer_response.price", "$..email"] {
        let parsed = Path::parse(path).unwrap();
        group.bench_function(format!("{path} on the tape (1000 events)"), |b| {
            b.iter(|| {
                let mut n = 0;
                for (e, t) in events.iter().zip(&tapes) {
                    Event::new(e.as_bytes(), t).for_each(&parsed, |_| n += 1);
                }
                n
            })
        });
        group.bench_function(format!("{path} scanning bytes (1000 events)"), |b| {
            b.iter(|| {
                let mut n = 0;
                for e in &events {
                    parsed.for_each(e.as_bytes(), |_| n += 1);
                }
                n
            })
        });
    }
    group.finish();
}

struct CountStrings(usize);

impl<'a> Visitor<'a> for CountStrings {
    fn string(&mut self, _: Value<'a>, matched: Option<usize>) {
        self.0 += 1 + matched.unwrap_or(0);
    }
}

fn walk(c: &mut Criterion) {
    let events = events(1000);
    let tapes = tapes(&events);
    let paths: Vec<Path> = [
        "$.lead_data.ssn",
        "$.lead_data.email",
        "$.lead_data.phone_1",
        "$.lead_data.phone_2",
        "$.lead_data.first_name",
        "$.lead_data.last_name",
        "$.lead_data.dob",
        "$.lead_data.address_1",
        "$.event_id",
        "$.timestamp",
    ]
    .iter()
    .map(|p| Path::parse(p).unwrap())
    .collect();
    let matcher = PathMatcher::new(&paths).unwrap();
    let mut group = c.benchmark_group("walk");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("every scalar on the tape, 10 patterns (1000 events)", |b| {
        let mut walker = Walker::new();
        b.iter(|| {
            let mut visitor = CountStrings(0);
            for (e, t) in events.iter().zip(&tapes) {
                walker.walk(&Event::new(e.as_bytes(), t), &matcher, &mut visitor);
            }
            visitor.0
        })
    });
    group.finish();
}

fn detectors(c: &mut Criterion) {
    let texts = [
        ("no pii", "Interested in a quote for a 3-bedroom home; budget around 250 per month."),
        ("ssn", "Identity verified with SSN 123-45-6789 by agent."),
        ("email", "Prefers e-mail contact: jane.doe@example.com. Do not call."),
        ("phone", "Jane asked to be called back at (555) 123-4567 after 5pm."),
        ("card", "Deposit paid with card 4111 1111 1111 1111; receipt sent."),
    ];
    let mut group = c.benchmark_group("detect");
    for (kind, text) in texts {
        for (name, detectors) in
            [("all kinds", Detectors::of(PiiKind::ALL)), ("its kind only", Detectors::of(kind_of(kind)))]
        {
            group.bench_function(format!("{kind}: {name}"), |b| {
                let mut found = Vec::new();
                b.iter(|| {
                    found.clear();
                    detectors.find(text, &mut found);
                    found.len()
                })
            });
        }
    }
    group.finish();
    let mut group = c.benchmark_group("mask");
    let masker = Masker::with_key(b"bench key");
    for (strategy, value) in [
        (Strategy::Last4, "123-45-6789"),
        (Strategy::Email, "jane.doe@example.com"),
        (Strategy::AreaCode, "(555) 123-4567"),
        (Strategy::FirstLetter, "Émile Zola"),
        (Strategy::Hash, "jane.doe@example.com"),
    ] {
        group.bench_function(format!("{strategy:?}"), |b| {
            let mut out = String::new();
            b.iter(|| {
                out.clear();
                masker.mask(&strategy, value, &mut out);
                out.len()
            })
        });
    }
    group.finish();
}

fn kind_of(name: &str) -> Vec<PiiKind> {
    match name {
        "ssn" => vec![PiiKind::Ssn],
        "email" => vec![PiiKind::Email],
        "phone" => vec![PiiKind::Phone],
        "card" => vec![PiiKind::Card],
        _ => vec![],
    }
}

fn emit(c: &mut Criterion) {
    let events = events(1000);
    let tapes = tapes(&events);
    let stamp = Stamp::version_at(&Place::default(), "0123456789abcdef");
    let mut group = c.benchmark_group("emit");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("stamp firehose_metadata (1000 events)", |b| {
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            for (e, t) in events.iter().zip(&tapes) {
                stamp.apply(&Event::new(e.as_bytes(), t), &mut out);
            }
            out.len()
        })
    });
    group.finish();
}

/// Each shipped rule natively over the demo pipeline's configuration, per event.
fn stages(c: &mut Criterion) {
    use firehose::tools::native::native_rule;
    let config =
        firehose::config::PipelineConfig::load(std::path::Path::new("examples/leadconduit/pipeline.yaml")).unwrap();
    let events = events(1000);
    let batch = firehose_sdk::testing::TestBatch::new(&events).unwrap();
    let mut group = c.benchmark_group("stage");
    group.throughput(Throughput::Elements(events.len() as u64));
    for stage in &config.stages {
        let module = std::path::Path::new(&stage.module)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace("firehose_", "")
            .replace('_', "-");
        let mut rule = native_rule(&module, &stage.config).unwrap().unwrap();
        group.bench_function(format!("{} natively (1000 events)", stage.name), |b| {
            let mut out = firehose_sdk::Output::new();
            b.iter(|| {
                out.clear();
                rule.process(&batch.batch(), &firehose_sdk::Context::default(), &mut out);
                out.verdicts.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, intake, lookups, walk, detectors, emit, stages);
criterion_main!(benches);
