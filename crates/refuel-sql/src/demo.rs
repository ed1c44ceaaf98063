//! The demo project a local data directory gets on its first run: product reviews, a
//! labeling task, a completed run with its labels, and the task deployed as an application.
//!
//! The rows are generated deterministically (a fixed seed), so every fresh directory holds
//! the same data and the same labels.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use refuel_client::models::{FieldType, IngestStatus, RunStatus};
use refuel_client::{RefuelClient, TaskField, WaitOptions};

use crate::progress::Progress;

/// The demo project.
pub const PROJECT: &str = "demo";
/// Its dataset of product reviews.
pub const DATASET: &str = "reviews";
/// The labeling task on it (its labels are the table `reviews_sentiment_labels`).
pub const TASK: &str = "reviews_sentiment";
/// The application the task is deployed as.
pub const APP: &str = "reviews_sentiment";
/// How many reviews the dataset holds.
pub const ROWS: usize = 3000;

/// The file, in the data directory, that says the demo was seeded completely.
const MARKER: &str = "refuel-sql-demo.done";

/// Whether the demo still has to be seeded in `dir`.
pub fn needed(dir: &Path) -> bool {
    !dir.join(MARKER).exists()
}

/// Seeds the demo project through `client` (a client of the team, no project needed). Every
/// step first looks whether it was done already, so a seeding that was interrupted picks up
/// where it stopped. `dir` is the data directory: it holds the CSV while it uploads, and the
/// marker written at the end.
pub async fn seed(client: &RefuelClient, dir: &Path, progress: &Progress) -> anyhow::Result<()> {
    let quick = WaitOptions {
        poll_interval: Duration::from_millis(100),
        timeout: Duration::from_secs(600),
    };
    progress.line(&format!(
        "First run: creating the demo project '{PROJECT}' in {}",
        dir.display()
    ));
    let projects = client.projects().list().await?;
    if !projects.iter().any(|p| p.project_name == PROJECT) {
        client
            .projects()
            .create(PROJECT, "Product reviews: the refuel-sql demo")
            .await?;
    }
    let demo = client.with_project(PROJECT);

    let existing = demo
        .datasets()
        .list()
        .await?
        .into_iter()
        .find(|d| d.dataset_name == DATASET);
    if let Some(d) = &existing
        && d.ingest_status == IngestStatus::Failed
    {
        demo.datasets().delete(DATASET).await?;
    }
    let uploaded = existing.is_some_and(|d| d.ingest_status != IngestStatus::Failed);
    if !uploaded {
        progress.line(&format!(
            "  uploading {ROWS} product reviews as '{DATASET}'"
        ));
        let mut file = tempfile::Builder::new()
            .prefix("demo-reviews-")
            .suffix(".csv")
            .tempfile_in(dir)
            .context("create the demo CSV")?;
        write_csv(file.as_file_mut()).context("write the demo CSV")?;
        demo.datasets().upload_file(file.path(), DATASET).await?;
    }
    demo.datasets().wait_for_ingest(DATASET, quick).await?;

    let tasks = demo.tasks().list().await?;
    if !tasks.iter().any(|t| t.task_name == TASK) {
        demo.tasks()
            .create(
                TASK,
                DATASET,
                "Customer reviews of products sold in an online shop.",
                &task_fields(),
                None,
            )
            .await?;
    }

    let done = match demo.runs().status(TASK, DATASET).await {
        Ok(run) => match run.status {
            RunStatus::Completed => true,
            RunStatus::Active | RunStatus::NotStarted => false,
            _ => {
                demo.runs().start(TASK, DATASET, None).await?;
                false
            }
        },
        Err(e) if e.is_not_found() => {
            demo.runs().start(TASK, DATASET, None).await?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    if !done {
        let bar = progress.bar(&format!("  labeling with task '{TASK}'"), Some(ROWS as u64));
        demo.runs()
            .wait_for_completion(TASK, DATASET, quick, |p| {
                bar.set(p.labeled, Some(p.labeled + p.remaining))
            })
            .await?;
        bar.finish(&format!("  labeled {ROWS} reviews with task '{TASK}'"));
    }

    let apps = demo.applications().list().await?;
    if !apps.iter().any(|a| a.name == APP) {
        demo.applications().deploy(TASK, Some(APP)).await?;
        progress.line(&format!("  deployed task '{TASK}' as application '{APP}'"));
    }
    std::fs::write(dir.join(MARKER), b"the demo project was seeded\n")
        .with_context(|| format!("write {}", dir.join(MARKER).display()))?;
    progress.line(&format!(
        "Ready. Try: SELECT sentiment_label, count(*) FROM {TASK}_labels GROUP BY 1;"
    ));
    Ok(())
}

/// The task's two fields. The guidelines list keywords per label: an LLM reads them as
/// hints, and the emulator's offline reference labeler labels by them.
fn task_fields() -> Vec<TaskField> {
    vec![
        TaskField::new("sentiment", FieldType::Classification)
            .labels(["positive", "negative", "neutral"])
            .guidelines(
                "The overall sentiment of the review.\n\
                 positive: excellent, solid, perfectly, great, good, fast, early, quick, painless, helpful, friendly, easy, clear, love, value\n\
                 negative: stopped, broken, cracked, late, damaged, missing, overpriced, worth, never, refused, crashing, nightmare, confusing\n\
                 neutral: okay, average, job, described, nothing",
            )
            .input_column("text")
            .fallback_value("neutral"),
        TaskField::new("topic", FieldType::Classification)
            .labels(["quality", "shipping", "price", "support", "usability"])
            .guidelines(
                "What the review is mostly about.\n\
                 quality: build, made, working, broken, cracked, plastic, solid, daily\n\
                 shipping: delivery, arrived, packed, package, box, late, early, damaged\n\
                 price: value, money, cheaper, overpriced, worth, store\n\
                 support: customer, seller, replied, refund, emails, helpful, friendly\n\
                 usability: setup, easy, instructions, app, pairing, controls, manual, minutes",
            )
            .input_column("text")
            .fallback_value("quality"),
    ]
}

/// Writes the reviews as CSV: `review_id, product, category, stars, text,
/// verified_purchase, helpful_votes, review_date`.
pub fn write_csv(out: &mut impl Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    writeln!(
        out,
        "review_id,product,category,stars,text,verified_purchase,helpful_votes,review_date"
    )?;
    let mut rng = SplitMix64(0x005e_ed0f_de40);
    for id in 1..=ROWS {
        let review = Review::generate(&mut rng);
        writeln!(
            out,
            "{id},{},{},{},{},{},{},{}",
            quote(review.product),
            quote(review.category),
            review.stars,
            quote(&review.text),
            review.verified,
            review.helpful_votes,
            review.date,
        )?;
    }
    out.flush()
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// One generated review.
struct Review {
    product: &'static str,
    category: &'static str,
    stars: u8,
    text: String,
    verified: bool,
    helpful_votes: u64,
    date: String,
}

const PRODUCTS: [(&str, &str); 16] = [
    ("Aurora X2 Headphones", "electronics"),
    ("Volt 65W Charger", "electronics"),
    ("Pixelview 27\" 4K Monitor", "electronics"),
    ("Nimbus Smart Speaker", "electronics"),
    ("Trailcam Action Camera", "electronics"),
    ("Brewmaster Coffee Grinder", "home & kitchen"),
    ("Crisp Air Fryer", "home & kitchen"),
    ("Evenheat Cast Iron Pan", "home & kitchen"),
    ("The Salt Road", "books"),
    ("Practical Sourdough", "books"),
    ("Galaxy Builder Blocks", "toys"),
    ("Puzzle Planet 1000", "toys"),
    ("Greenline Garden Hose", "garden"),
    ("Solar Path Lights", "garden"),
    ("Ridge Trail Backpack", "sports"),
    ("Flexcore Yoga Mat", "sports"),
];

/// Sentences by topic (quality, shipping, price, support, usability): praise, then
/// complaints.
const PRAISE: [&[&str]; 5] = [
    &[
        "Build quality is excellent.",
        "Feels solid and well made.",
        "Works perfectly after a month of daily use.",
    ],
    &[
        "Arrived two days early and well packed.",
        "Fast delivery, the box was in great shape.",
    ],
    &[
        "Great value for the money.",
        "Cheaper than the store and just as good.",
    ],
    &[
        "Customer support replied within an hour and was helpful.",
        "The seller was friendly and sorted out a question quickly.",
    ],
    &[
        "Setup was quick and painless, five minutes.",
        "Easy to use and the instructions are clear.",
    ],
];
const COMPLAINTS: [&[&str]; 5] = [
    &[
        "Stopped working after a week.",
        "Cheap plastic, cracked on day two.",
        "Broken on arrival.",
    ],
    &[
        "Delivery was ten days late.",
        "The package arrived damaged and parts were missing.",
    ],
    &["Overpriced for what you get.", "Not worth the money."],
    &[
        "Customer support never replied to my emails.",
        "The seller refused a refund.",
    ],
    &[
        "The app keeps crashing and pairing is a nightmare.",
        "Confusing controls and no manual in the box.",
    ],
];
const NEUTRAL: [&str; 5] = [
    "It does the job.",
    "Average, nothing special.",
    "Okay for the price.",
    "As described.",
    "Arrived on a Tuesday.",
];
const OPENERS: [&str; 6] = [
    "Bought the {p} for my partner.",
    "Second {p} I have owned.",
    "Got the {p} on sale.",
    "Using the {p} every day.",
    "Ordered the {p} as a gift.",
    "",
];

impl Review {
    fn generate(rng: &mut SplitMix64) -> Self {
        let (product, category) = PRODUCTS[rng.below(PRODUCTS.len() as u64) as usize];
        let stars: u8 = match rng.below(100) {
            0..35 => 5,
            35..60 => 4,
            60..72 => 3,
            72..82 => 2,
            _ => 1,
        };
        let topic = rng.below(5) as usize;
        let mut sentences: Vec<String> = Vec::new();
        let opener = OPENERS[rng.below(OPENERS.len() as u64) as usize];
        if !opener.is_empty() {
            sentences.push(opener.replace("{p}", product));
        }
        let pick = |rng: &mut SplitMix64, list: &[&str]| -> String {
            list[rng.below(list.len() as u64) as usize].to_string()
        };
        match stars {
            4 | 5 => {
                sentences.push(pick(rng, PRAISE[topic]));
                // Some happy customers still mention a detail that went wrong.
                if rng.below(10) == 0 {
                    sentences.push(format!(
                        "Only gripe: {}",
                        pick(rng, &NEUTRAL).to_lowercase()
                    ));
                }
            }
            3 => sentences.push(pick(rng, &NEUTRAL)),
            _ => {
                sentences.push(pick(rng, COMPLAINTS[topic]));
                if rng.below(4) == 0 {
                    let other = (topic + 1 + rng.below(4) as usize) % 5;
                    sentences.push(pick(rng, COMPLAINTS[other]));
                }
            }
        }
        let day = rng.below(540) as i64;
        Self {
            product,
            category,
            stars,
            text: sentences.join(" "),
            verified: rng.below(100) < 82,
            helpful_votes: if rng.below(3) == 0 { rng.below(60) } else { 0 },
            date: date_from_days(19_723 + day), // 2024-01-01 + day
        }
    }
}

/// A small, fixed pseudo-random generator (SplitMix64): the same seed gives the same rows on
/// every machine and every version of every crate.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (proleptic Gregorian calendar).
fn date_from_days(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_from_days(0), "1970-01-01");
        assert_eq!(date_from_days(19_723), "2024-01-01");
        assert_eq!(date_from_days(19_723 + 59), "2024-02-29");
        assert_eq!(date_from_days(19_723 + 366), "2025-01-01");
    }

    #[test]
    fn rows_are_deterministic_and_well_formed() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_csv(&mut a).unwrap();
        write_csv(&mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), ROWS + 1);
        assert!(text.lines().nth(1).unwrap().starts_with("1,\""));
    }
}
