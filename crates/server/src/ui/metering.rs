//! The metered services screen: a month's usage per service against its
//! threshold, the overage and projection, and a 12-month bar chart drawn as
//! inline SVG.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{frame, refusal_page, render, store_error, Frame, UiAdmin};
use crate::i18n::Tr;
use crate::AppState;

struct ServiceView {
    key: String,
    label: String,
    threshold: Option<u64>,
    usage_text: String,
    threshold_text: String,
    overage_text: String,
    projected_text: String,
    percent: u64,
    bar_percent: u64,
    over: bool,
    price: Option<String>,
    chart: String,
}

#[derive(Template)]
#[template(path = "metering.html")]
struct MeteringPage<'a> {
    f: Frame<'a>,
    month: String,
    billable: i64,
    services: Vec<ServiceView>,
}

#[derive(Deserialize, Default)]
pub struct MonthQuery {
    month: Option<String>,
}

/// A 12-month bar chart as inline SVG: readable without JavaScript, each bar
/// with its own title, the threshold as a line; it shrinks to the screen
/// (all twelve months stay visible on a phone).
fn chart(
    t: &Tr,
    label: &str,
    months: &[(String, u64)],
    threshold: Option<u64>,
    amount: &dyn Fn(u64) -> String,
) -> String {
    let (w, h, gap) = (36u64, 120u64, 6u64);
    let max = months
        .iter()
        .map(|(_, v)| *v)
        .chain(threshold)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = months.len() as u64 * (w + gap);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{} - {}\" width=\"100%\" style=\"max-width:{width}px;height:auto\" viewBox=\"0 0 {width} {}\" xmlns=\"http://www.w3.org/2000/svg\">",
        askama::filters::escape(label, askama::filters::Html).map(|e| e.to_string()).unwrap_or_default(),
        t.t("last-12-months"),
        h + 20
    );
    for (i, (month, v)) in months.iter().enumerate() {
        let bar = v * h / max;
        let x = i as u64 * (w + gap);
        let over = threshold.is_some_and(|th| *v > th);
        svg.push_str(&format!(
            "<g><title>{month}: {}</title><rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{bar}\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text></g>",
            amount(*v),
            h - bar,
            if over { "#b3261e" } else { "#1f4e79" },
            x + w / 2,
            h + 14,
            &month[2..]
        ));
    }
    if let Some(th) = threshold {
        let y = h - th.min(max) * h / max;
        svg.push_str(&format!("<line x1=\"0\" x2=\"{width}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#8a5a00\" stroke-dasharray=\"4 3\"/>"));
    }
    svg.push_str("</svg>");
    svg
}

pub async fn metering(
    UiAdmin(u): UiAdmin,
    State(state): State<AppState>,
    q: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let month = q.ok().and_then(|Query(q)| q.month).filter(|m| !m.is_empty());
    let report = match crate::metering_api::report(&state, month).await {
        Ok(r) => r,
        Err(e) => return refusal_page(e.status, &u, &e.code),
    };
    // The report's month is a valid Month (report() parsed it); a year back.
    let mut months: Vec<lisens_core::Month> = lisens_core::Month::parse(&report.month).into_iter().collect();
    while months.len() < 12 {
        match months.last().and_then(lisens_core::Month::previous) {
            Some(m) => months.push(m),
            None => break,
        }
    }
    months.reverse();
    let history = match state.store.usage_history(&months).await {
        Ok(h) => h,
        Err(e) => return store_error(&u, e),
    };
    let product = match state.store.product().await {
        Ok(p) => p,
        Err(e) => return store_error(&u, e),
    };
    let services = report
        .services
        .iter()
        .map(|s| {
            // The product names its services in each language.
            let label = product.service(&s.service).map_or_else(
                || s.service.clone(),
                |d| product.service_name(d, u.t.code).to_owned(),
            );
            // Bytes are read in GB.
            let amount = |v: u64| {
                if s.unit == "bytes" {
                    u.t.bytes(v)
                } else {
                    u.t.num(&i64::try_from(v).unwrap_or(i64::MAX))
                }
            };
            let series: Vec<(String, u64)> = history
                .iter()
                .map(|(m, v)| (m.clone(), v.get(&s.service).copied().unwrap_or(0)))
                .collect();
            let percent = s.percent.unwrap_or(0);
            ServiceView {
                key: s.service.clone(),
                chart: chart(&u.t, &label, &series, s.threshold, &amount),
                label,
                threshold: s.threshold,
                usage_text: amount(s.usage),
                threshold_text: s.threshold.map(amount).unwrap_or_default(),
                overage_text: amount(s.overage),
                projected_text: amount(s.projected),
                percent,
                bar_percent: percent.min(100),
                over: s.overage > 0,
                price: s
                    .price
                    .as_ref()
                    .map(|p| u.t.money(p, s.currency.as_deref().unwrap_or_default())),
            }
        })
        .collect();
    let f = frame(&u, None, None);
    render(&MeteringPage {
        f,
        month: report.month.clone(),
        billable: report.billable_users as i64,
        services,
    })
}

framed!(MeteringPage);
