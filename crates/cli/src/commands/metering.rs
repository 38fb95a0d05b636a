//! `lisens metering ...`: metered services: report one usage event, import
//! usage from CSV in batches with a progress bar, and the month's report.

use lisens_core::codes;
use lisens_store::StoreError;

use crate::args::MeteringCommand;
use crate::commands::serve::Db;
use crate::failure::{import_failure, Failure, Outcome};
use crate::files::read_text;
use crate::output;

pub(crate) async fn metering(
    database: &Db,
    cmd: MeteringCommand,
    zone: &lisens_core::metering::Zone,
) -> Outcome {
    use lisens_store::metering::UsageEvent;
    let store = database.open().await?;
    let zone = zone.clone();
    let now = || {
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 is a valid nanosecond")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339 formats UTC")
    };
    match cmd {
        MeteringCommand::Emit {
            service,
            quantity,
            id,
            at,
        } => {
            let id = id.unwrap_or_else(|| {
                let b: [u8; 16] = rand::random();
                b.iter().map(|x| format!("{x:02x}")).collect()
            });
            let event = UsageEvent {
                id: id.clone(),
                service,
                quantity: quantity.into(),
                occurred_at: at.unwrap_or_else(now),
            };
            let r = store.ingest(&[event], &zone).await.map_err(batch_failure)?;
            store.check_thresholds(&zone).await?;
            println!(
                "{} (id {id})",
                if r.accepted == 1 {
                    "counted"
                } else {
                    "already counted"
                }
            );
        }
        MeteringCommand::Import { file } => {
            let text = read_text(&file)?;
            let product = store.product().await?;
            let rules = lisens_core::metering::EventRules {
                now: time::OffsetDateTime::now_utc(),
                installed: store.installed_at().await?,
                zone: &zone,
                product: &product,
            };
            let rows = || lisens_core::import::usage_rows(&text, rules);
            // The whole file is checked first: a bad line stores nothing.
            let mut total = 0u64;
            for row in rows() {
                row.map_err(import_failure)?;
                total += 1;
            }
            if total == 0 {
                return Err(Failure::new(
                    codes::CSV_EMPTY,
                    format!("{}: no events after the header line", file.display()),
                ));
            }
            let mut batch = Vec::with_capacity(lisens_store::metering::MAX_BATCH);
            let (mut accepted, mut duplicates) = (0, 0);
            // A bar over the file's bytes on a terminal; nothing otherwise.
            let bar = indicatif::ProgressBar::new(text.len() as u64).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {percent:>3}% {msg} ({elapsed}, about {eta} left)",
                )
                .expect("a valid template"),
            );
            let mut rows = rows().peekable();
            while let Some(row) = rows.next() {
                let row = row.map_err(import_failure)?;
                batch.push(row.event);
                if batch.len() == lisens_store::metering::MAX_BATCH || rows.peek().is_none() {
                    let res = store
                        .ingest_checked(&std::mem::take(&mut batch))
                        .await
                        .map_err(batch_failure)?;
                    accepted += res.accepted;
                    duplicates += res.duplicates;
                    bar.set_position(row.end_byte);
                    bar.set_message(format!("{} of {total} events", accepted + duplicates));
                }
            }
            bar.finish_and_clear();
            store.check_thresholds(&zone).await?;
            println!("{accepted} events counted, {duplicates} already counted");
        }
        MeteringCommand::Report { month, json } => {
            let month = match month {
                Some(m) => lisens_core::Month::parse(&m)
                    .map_err(|e| Failure::new(codes::INVALID_INPUT, e.to_string()))?,
                None => lisens_core::metering::month_of(lisens_store::clock::now(), &zone),
            };
            output::usage(&store.usage_report(&month, &zone).await?, json);
        }
    }
    Ok(())
}

fn batch_failure(e: StoreError) -> Failure {
    match &e {
        StoreError::BatchInvalid(items) => Failure::new(
            codes::BATCH_INVALID,
            items
                .iter()
                .map(|i| format!("item {}: {}: {}", i.index, i.code, i.detail))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => e.into(),
    }
}
