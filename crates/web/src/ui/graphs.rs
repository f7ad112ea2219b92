//! Graphs drawn on the server as inline SVG: a pure function from samples to markup, with axes,
//! tick labels and a title, so the overview needs no JavaScript and no chart library.

use std::fmt::Write as _;

use crate::logbook::format_time;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 30.0;

/// One series to draw: points are (epoch millis, value).
pub struct Graph<'a> {
    pub title: &'a str,
    /// Shown after the values on the y axis ("%", "msgs").
    pub unit: &'a str,
    /// The y axis's top; `None` fits the data (at least 1).
    pub y_max: Option<f64>,
    pub points: &'a [(u64, f64)],
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" top for the y axis: 1, 2 or 5 times a power of ten, at least `max`.
pub fn nice_max(max: f64) -> f64 {
    if max <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

/// A number for a label: whole numbers without decimals, others with one.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The time of day of an epoch-millis time (UTC): `HH:MM`, or `HH:MM:SS` when the whole graph
/// spans less than ten minutes (every label would read the same minute otherwise).
fn clock(at: u64, span_ms: u64) -> String {
    let end = if span_ms < 600_000 { 19 } else { 16 };
    format_time(at)[11..end].to_string()
}

/// The SVG of one graph. With fewer than two points it says there is no data yet.
pub fn line_graph(graph: &Graph<'_>) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"#,
        title = escape(graph.title)
    );
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="15" class="graph-title">{}</text>"#,
        escape(graph.title)
    );
    // Axes.
    let _ = write!(
        svg,
        r#"<path class="axis" d="M{LEFT} {TOP} V{y0} H{x1}" fill="none" stroke="currentColor"/>"#,
        y0 = TOP + plot_h,
        x1 = LEFT + plot_w
    );
    let data_max = graph.points.iter().map(|p| p.1).fold(0.0, f64::max);
    let y_max = graph.y_max.unwrap_or_else(|| nice_max(data_max));
    // Y ticks: 0, half, top.
    for i in 0..=2 {
        let value = y_max * f64::from(i) / 2.0;
        let y = TOP + plot_h - plot_h * f64::from(i) / 2.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{y}" y2="{y}" stroke="currentColor" stroke-opacity="0.15"/><text class="tick" x="{tx}" y="{ty}" text-anchor="end">{} {}</text>"#,
            number(value),
            escape(graph.unit),
            x2 = LEFT + plot_w,
            tx = LEFT - 4.0,
            ty = y + 4.0
        );
    }
    if graph.points.len() < 2 {
        let _ = write!(
            svg,
            r#"<text class="empty" x="{x}" y="{y}" text-anchor="middle">no samples yet</text></svg>"#,
            x = LEFT + plot_w / 2.0,
            y = TOP + plot_h / 2.0
        );
        return svg;
    }
    let t0 = graph.points.iter().map(|p| p.0).min().unwrap_or(0);
    let t1 = graph
        .points
        .iter()
        .map(|p| p.0)
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let x_of = |t: u64| LEFT + plot_w * (t - t0) as f64 / (t1 - t0) as f64;
    let y_of = |v: f64| TOP + plot_h - plot_h * (v / y_max).clamp(0.0, 1.0);
    // X ticks: start, middle, end.
    for (t, anchor) in [(t0, "start"), (t0 + (t1 - t0) / 2, "middle"), (t1, "end")] {
        let _ = write!(
            svg,
            r#"<text class="tick" x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            x_of(t),
            HEIGHT - 10.0,
            clock(t, t1 - t0)
        );
    }
    let mut d = String::new();
    for (i, (t, v)) in graph.points.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1} {:.1}",
            if i == 0 { "M" } else { " L" },
            x_of(*t),
            y_of(*v)
        );
    }
    let _ = write!(
        svg,
        r#"<path class="line" d="{d}" fill="none" stroke="currentColor" stroke-width="2"/></svg>"#
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_axes_labels_and_the_line() {
        let points = [(0, 0.0), (60_000, 30.0), (120_000, 60.0)];
        let svg = line_graph(&Graph {
            title: "CPU <use>",
            unit: "%",
            y_max: Some(100.0),
            points: &points,
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("CPU &lt;use&gt;"), "title escaped: {svg}");
        assert!(svg.contains(">100 %<") && svg.contains(">50 %<") && svg.contains(">0 %<"));
        assert!(
            svg.contains(">00:00:00<") && svg.contains(">00:02:00<"),
            "{svg}"
        );
        // Left edge at 0 %, right edge at 60 % of 146 px plot height above the x axis.
        assert!(svg.contains("M64.0 170.0"), "{svg}");
        assert!(svg.contains("L548.0 82.4"), "{svg}");
    }

    #[test]
    fn says_when_there_is_nothing_to_draw() {
        let svg = line_graph(&Graph {
            title: "Messages",
            unit: "msgs",
            y_max: None,
            points: &[(5, 1.0)],
        });
        assert!(svg.contains("no samples yet"));
        assert!(!svg.contains("class=\"line\""));
    }

    #[test]
    fn fits_the_y_axis_to_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(17.0), 20.0);
        assert_eq!(nice_max(100.0), 100.0);
        assert_eq!(nice_max(101.0), 200.0);
    }
}
