//! Realistic LeadConduit-style lead events for demos, tests and benchmarks.
//!
//! Deterministic for a seed. Each event is ~800 bytes with the shape of the product
//! brief (`event_id, timestamp, account_id, flow_id, lead_id, event_type, entity_type,
//! entity_id, outcome, duration_ms, metadata{…}, lead_data{…}`), personal data in
//! `lead_data` (names, some non-ASCII, e-mail, phones, SSN, birth date, address) and,
//! in about half of the events, inside free text (comments, buyer messages), including
//! card numbers that pass the Luhn check and some that do not.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Flow ids the generator uses, with the names the demo's `flows.csv` gives them.
pub const FLOWS: [(&str, &str); 6] = [
    ("5f3c2a1b9d8e7f6a5b4c3d01", "Solar Residential"),
    ("5f3c2a1b9d8e7f6a5b4c3d02", "Auto Insurance"),
    ("5f3c2a1b9d8e7f6a5b4c3d03", "Mortgage Refinance"),
    ("5f3c2a1b9d8e7f6a5b4c3d04", "Home Security"),
    ("5f3c2a1b9d8e7f6a5b4c3d05", "Medicare Advantage"),
    ("5f3c2a1b9d8e7f6a5b4c3d06", "Debt Settlement"),
];

/// Account ids the generator uses.
pub const ACCOUNTS: [&str; 4] = ["acct_7H2K9QX", "acct_3M8P1ZV", "acct_9R4T6LW", "acct_5B7N2JC"];

const EVENT_TYPES: [(&str, &str, &str, u32); 9] = [
    // (event_type, entity_type, outcome, weight)
    ("source.accepted", "source", "success", 28),
    ("source.rejected", "source", "failure", 8),
    ("recipient.delivered", "recipient", "success", 20),
    ("recipient.failed", "recipient", "failure", 7),
    ("recipient.error", "recipient", "error", 3),
    ("recipient.skipped", "recipient", "skip", 6),
    ("feedback.received", "feedback", "success", 10),
    ("lead.duplicate", "lead", "skip", 6),
    ("filter.applied", "filter", "success", 12),
];

const FIRST_NAMES: [&str; 16] = [
    "James", "Mary", "José", "Zoë", "Łukasz", "Ana", "李", "Mohammed", "Chloé", "Björn", "Aisha", "Noah", "Émile",
    "Priya", "Olivia", "Søren",
];
const LAST_NAMES: [&str; 12] = [
    "Smith",
    "García",
    "Nguyen",
    "Müller",
    "O'Brien",
    "Kowalski",
    "王",
    "Johnson",
    "Dubois",
    "Okafor",
    "Patel",
    "Andersson",
];
const STATES: [(&str, &str); 8] = [
    ("CA", "Los Angeles"),
    ("TX", "Austin"),
    ("FL", "Tampa"),
    ("NY", "Buffalo"),
    ("AZ", "Phoenix"),
    ("IL", "Chicago"),
    ("WA", "Spokane"),
    ("CO", "Denver"),
];
const SOURCES: [&str; 5] = ["Google Ads", "Facebook Lead Ads", "Partner API", "Web Form", "Call Center"];
const BUYERS: [&str; 5] = ["SunPower Direct", "Allstate Leads", "Rocket Partners", "ADT Dealer Net", "Humana Connect"];
const DOMAINS: [&str; 5] =
    ["example.com", "mail.example.org", "inbox.example.net", "example.co.uk", "correo.example.es"];

/// Generates events one at a time.
pub struct Generator {
    rng: ChaCha8Rng,
    sequence: u64,
    start_ms: i64,
    step_ms: i64,
}

impl Generator {
    /// A generator for `seed`; timestamps start on 2024-01-15 14:00 UTC, ~37 ms apart.
    pub fn new(seed: u64) -> Generator {
        Generator { rng: ChaCha8Rng::seed_from_u64(seed), sequence: 0, start_ms: 1_705_327_200_000, step_ms: 37 }
    }

    /// Spreads the timestamps of `events` events evenly over `days` days, in time order,
    /// as a replay or a backfill sees them.
    pub fn spread_over_days(mut self, days: u32, events: u64) -> Generator {
        self.step_ms = (i64::from(days) * 86_400_000 / events.max(1) as i64).max(1);
        self
    }

    /// Appends the next event (one JSON object, no newline) to `out`.
    pub fn next_into(&mut self, out: &mut String) {
        self.sequence += 1;
        let (event_type, entity_type, outcome) = self.event_type();
        let (state, city) = self.pick(&STATES);
        let first = self.pick(&FIRST_NAMES);
        let last = self.pick(&LAST_NAMES);
        let flow = if self.rng.random_range(0..50) == 0 { "5f3c2a1b9d8e7f6a5b4c3dff" } else { self.pick(&FLOWS).0 };
        let account = self.pick(&ACCOUNTS);
        let email = format!(
            "{}.{}{}@{}",
            ascii_fold(first),
            ascii_fold(last),
            self.rng.random_range(1..99),
            self.pick(&DOMAINS)
        );
        let phone = self.phone();
        let ts = chrono::DateTime::from_timestamp_millis(
            self.start_ms + self.sequence as i64 * self.step_ms + self.rng.random_range(0..30),
        )
        .expect("valid time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

        let mut o = Obj::open(out);
        o.str("event_id", &self.uuid());
        o.str("timestamp", &ts);
        o.str("account_id", account);
        o.str("flow_id", flow);
        o.str("lead_id", &self.hex(24));
        o.str("event_type", event_type);
        o.str("entity_type", entity_type);
        o.str("entity_id", &self.hex(24));
        o.str("outcome", outcome);
        o.raw("duration_ms", &self.rng.random_range(3..2500).to_string());
        o.key("metadata");
        {
            let mut m = Obj::open(o.out);
            m.str("source_name", self.pick(&SOURCES));
            m.str("ip_address", &format!("203.0.113.{}", self.rng.random_range(1..255)));
            m.str("user_agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36");
            if entity_type == "recipient" {
                m.key("buyer_response");
                let mut b = Obj::open(m.out);
                b.str("buyer", self.pick(&BUYERS));
                b.raw("price", &format!("{}.{:02}", self.rng.random_range(5..80), self.rng.random_range(0..100)));
                b.str("status", if outcome == "success" { "accepted" } else { "declined" });
                let message = self.free_text(first, &email, &phone);
                b.str("message", &message);
                b.close();
            }
            m.close();
        }
        o.key("lead_data");
        {
            let mut l = Obj::open(o.out);
            l.str("first_name", first);
            l.str("last_name", last);
            l.str("email", &email);
            l.str("phone_1", &phone);
            let phone_2 = self.phone();
            l.str("phone_2", &phone_2);
            l.str("ssn", &self.ssn());
            l.str(
                "dob",
                &format!(
                    "19{}-{:02}-{:02}",
                    self.rng.random_range(40..99),
                    self.rng.random_range(1..13),
                    self.rng.random_range(1..29)
                ),
            );
            l.str(
                "address_1",
                &format!(
                    "{} {} St",
                    self.rng.random_range(10..9999),
                    self.pick(&["Oak", "Maple", "Cedar", "Elm", "Pine"])
                ),
            );
            l.str("city", city);
            l.str("state", state);
            l.str("postal_code", &format!("{:05}", self.rng.random_range(1000..99999)));
            let comments = self.free_text(first, &email, &phone_2);
            l.str("comments", &comments);
            l.close();
        }
        o.close();
    }

    /// The next event as a string.
    pub fn next_event(&mut self) -> String {
        let mut out = String::with_capacity(1024);
        self.next_into(&mut out);
        out
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn event_type(&mut self) -> (&'static str, &'static str, &'static str) {
        let total: u32 = EVENT_TYPES.iter().map(|e| e.3).sum();
        let mut roll = self.rng.random_range(0..total);
        for (t, e, o, w) in EVENT_TYPES {
            if roll < w {
                return (t, e, o);
            }
            roll -= w;
        }
        unreachable!("weights cover the range")
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from_digit(self.rng.random_range(0..16), 16).expect("hex digit")).collect()
    }

    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    fn phone(&mut self) -> String {
        let area = self.rng.random_range(201..990);
        let exchange = self.rng.random_range(200..1000);
        let line = self.rng.random_range(0..10000);
        match self.rng.random_range(0..4) {
            0 => format!("({area}) {exchange}-{line:04}"),
            1 => format!("{area}-{exchange}-{line:04}"),
            2 => format!("+1 {area}.{exchange}.{line:04}"),
            _ => format!("{area}{exchange}{line:04}"),
        }
    }

    fn ssn(&mut self) -> String {
        let area = loop {
            let a = self.rng.random_range(1..900);
            if a != 666 {
                break a;
            }
        };
        format!("{area:03}-{:02}-{:04}", self.rng.random_range(1..100), self.rng.random_range(1..10000))
    }

    fn card(&mut self, valid: bool) -> String {
        let mut digits: Vec<u8> = std::iter::once(4).chain((0..14).map(|_| self.rng.random_range(0..10))).collect();
        let check = (0..10).find(|&c| {
            let mut all = digits.clone();
            all.push(c);
            firehose_sdk::pii::luhn(&all)
        });
        let check = check.expect("a Luhn check digit exists");
        digits.push(if valid { check } else { (check + 1) % 10 });
        let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        format!("{} {} {} {}", &text[0..4], &text[4..8], &text[8..12], &text[12..16])
    }

    fn free_text(&mut self, first: &str, email: &str, phone: &str) -> String {
        match self.rng.random_range(0..8) {
            0 => format!("{first} asked to be called back at {phone} after 5pm."),
            1 => format!("Deposit paid with card {}; receipt sent.", self.card(true)),
            2 => format!("Identity verified with SSN {} by agent.", self.ssn()),
            3 => format!("Prefers e-mail contact: {email}. Do not call."),
            4 => format!("Reference number {} noted (not a card).", self.card(false)),
            _ => "Interested in a quote for a 3-bedroom home; budget around 250 per month.".to_string(),
        }
    }
}

/// Writes a JSON object member by member, in order.
struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        let mut bytes = Vec::with_capacity(value.len() + 2);
        firehose_sdk::json::write_string(&mut bytes, value);
        self.out.push_str(std::str::from_utf8(&bytes).expect("escaped UTF-8 stays UTF-8"));
    }

    fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.out.push_str(value);
    }

    fn close(self) {
        self.out.push('}');
    }
}

fn ascii_fold(name: &str) -> String {
    let folded: String = name
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | 'A'..='Z' => Some(c.to_ascii_lowercase()),
            'é' | 'É' => Some('e'),
            'ë' => Some('e'),
            'ö' => Some('o'),
            'ü' => Some('u'),
            'ø' => Some('o'),
            'Ł' | 'ł' => Some('l'),
            _ => None,
        })
        .collect();
    if folded.is_empty() { "lead".to_string() } else { folded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_deterministic_and_about_800_bytes() {
        let mut a = Generator::new(7);
        let mut b = Generator::new(7);
        let mut total = 0;
        for _ in 0..1000 {
            let event = a.next_event();
            assert_eq!(event, b.next_event());
            firehose_sdk::json::validate(event.as_bytes()).unwrap();
            total += event.len();
        }
        let mean = total / 1000;
        assert!((650..=950).contains(&mean), "mean event size {mean}");
        assert_ne!(Generator::new(8).next_event(), Generator::new(7).next_event());
    }

    #[test]
    fn spreads_timestamps_over_days_in_time_order() {
        let timestamp = |event: &str| {
            let value: serde_json::Value = serde_json::from_str(event).unwrap();
            chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str().unwrap()).unwrap()
        };
        let mut generator = Generator::new(7).spread_over_days(30, 3000);
        let times: Vec<_> = (0..3000).map(|_| timestamp(&generator.next_event())).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "in time order");
        let span = *times.last().unwrap() - times[0];
        assert!(span > chrono::Duration::days(29) && span <= chrono::Duration::days(30), "{span}");
    }
}
