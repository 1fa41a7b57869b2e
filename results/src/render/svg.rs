//! The one chart the HTML pages draw: a line chart as inline SVG (no script, no font or file
//! fetched). Every page's chart is a [`Chart`] filled with its own series; names are escaped
//! here, so a label from captured traffic cannot inject markup.

use std::fmt::Write as _;

pub(crate) const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// Lines one chart holds at most (the busiest ones, the pages' tables list them all): more
/// would repeat colours and could not be told apart.
pub(crate) const MAX_LINES: usize = PALETTE.len();

/// Width of one character of the 11 px axis font, about, in px: used to keep x labels apart.
const CHAR_PX: f64 = 6.5;
/// Characters of a series name the legend shows (the middle of longer ones is left out): what
/// fits the right margin.
const LEGEND_CHARS: usize = 40;

/// A line chart. Every series has one y value per x position (None: no point there).
pub(crate) struct Chart<'a> {
    pub title: &'a str,
    pub y_unit: &'a str,
    /// Where each point stands on the x axis, ascending (linear; a log axis passes logs).
    pub xs: Vec<f64>,
    /// Labelled x positions; one too close to the label before it is not drawn.
    pub ticks: Vec<(f64, String)>,
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// A dot on every point: for a few categories, not for dense curves.
    pub dots: bool,
}

impl<'a> Chart<'a> {
    /// Evenly spaced categories (percentile names, seconds, rounds), at most ~12 labelled.
    pub fn categories(
        title: &'a str,
        y_unit: &'a str,
        labels: Vec<String>,
        series: Vec<(String, Vec<Option<f64>>)>,
    ) -> Chart<'a> {
        let n = labels.len();
        let every = n.div_ceil(12).max(1);
        Chart {
            title,
            y_unit,
            xs: (0..n).map(|i| i as f64).collect(),
            ticks: labels
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % every == 0 || i + 1 == n)
                .map(|(i, l)| (i as f64, l))
                .collect(),
            series,
            dots: true,
        }
    }

    pub fn svg(&self) -> String {
        // 1000 px fits the page's 1100 px column; the right margin holds the legend.
        let (w, h) = (1000.0, 300.0);
        let (left, right, top, bottom) = (64.0, 290.0, 30.0, 40.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let max = self
            .series
            .iter()
            .flat_map(|(_, ys)| ys.iter().flatten())
            .fold(0.0f64, |a, &b| a.max(b));
        let step = nice_step(if max > 0.0 { max } else { 1.0 }, 5.0);
        let top_y = (max / step).ceil().max(1.0) * step;
        let positions = self.xs.iter().chain(self.ticks.iter().map(|(x, _)| x));
        let lo = positions.clone().fold(f64::INFINITY, |a, &b| a.min(b));
        let hi = positions.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let x_at = |x: f64| {
            if hi > lo {
                left + pw * (x - lo) / (hi - lo)
            } else {
                left + pw / 2.0
            }
        };
        let y_at = |v: f64| top + ph - ph * v / top_y;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><title>{}</title>"#,
            esc(self.title)
        );
        let _ = write!(
            s,
            r#"<text x="{left}" y="18" class="t">{}</text>"#,
            esc(self.title)
        );
        // Horizontal grid and y labels.
        let mut v = 0.0;
        while v <= top_y + step / 2.0 {
            let y = y_at(v);
            let _ = write!(
                s,
                r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" class="a" text-anchor="end">{}</text>"##,
                left + pw,
                left - 6.0,
                y + 4.0,
                fmt_num(v)
            );
            v += step;
        }
        let _ = write!(
            s,
            r#"<text x="14" y="{:.1}" class="a" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
            top + ph / 2.0,
            top + ph / 2.0,
            esc(self.y_unit)
        );
        // X labels, centred under their position; one that would touch the last drawn is not.
        let mut drawn: Option<(f64, usize)> = None;
        for (x, label) in &self.ticks {
            let (px, len) = (x_at(*x), label.chars().count());
            let apart = drawn.is_none_or(|(prev, prev_len)| {
                px - prev >= (prev_len + len) as f64 * CHAR_PX / 2.0 + 8.0
            });
            if apart {
                let _ = write!(
                    s,
                    r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#bbb"/><text x="{px:.1}" y="{:.1}" class="a" text-anchor="middle">{}</text>"##,
                    top + ph,
                    top + ph + 4.0,
                    top + ph + 17.0,
                    esc(label)
                );
                drawn = Some((px, len));
            }
        }
        for (k, (name, ys)) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let pts: Vec<(f64, f64)> = self
                .xs
                .iter()
                .zip(ys)
                .filter_map(|(&x, y)| y.map(|y| (x_at(x), y_at(y))))
                .collect();
            if pts.len() > 1 {
                let points: Vec<String> =
                    pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = write!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                    points.join(" ")
                );
            }
            if self.dots || pts.len() == 1 {
                for (x, y) in pts.iter().take(200) {
                    let _ = write!(
                        s,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"#
                    );
                }
            }
            // The legend stands right of the plot, never over a line.
            let ly = top + 16.0 * k as f64 + 6.0;
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{color}"/><text x="{:.1}" y="{:.1}" class="a">{}</text>"#,
                left + pw + 12.0,
                ly - 9.0,
                left + pw + 26.0,
                ly,
                esc(&shorten(name, LEGEND_CHARS))
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// A "nice" step (1, 2 or 5 x 10^k) for about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// `s` in at most `n` characters, the middle left out: labels that differ only in their end
/// (`[stable]` and `[canary]`, `/items` and `/items/:id`) stay apart.
fn shorten(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len <= n {
        return s.to_string();
    }
    let head = (n - 1) / 2;
    let tail = n - 1 - head;
    let mut t: String = s.chars().take(head).collect();
    t.push('…');
    t.extend(s.chars().skip(len - tail));
    t
}

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_to_their_data_and_escape_names() {
        let svg = Chart::categories(
            "t<1>",
            "ms",
            vec!["a".into(), "b".into(), "c".into()],
            vec![("s<x>".into(), vec![Some(1.0), None, Some(7.0)])],
        )
        .svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("t&lt;1&gt;") && svg.contains("s&lt;x&gt;"));
        assert!(!svg.contains("<x>"));
        // 7 on a 0..8 axis with steps of 2: the top grid label is 8.
        assert!(svg.contains(">8.0</text>"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn x_labels_too_close_to_the_one_before_are_not_drawn() {
        // 14 seconds: every other one labelled, and the last (13s) right after 12s.
        let labels: Vec<String> = (0..14).map(|i| format!("{i}s")).collect();
        let series = vec![("r".into(), vec![Some(1.0); 14])];
        let svg = Chart::categories("t", "ms", labels, series).svg();
        assert!(svg.contains(">12s</text>") && svg.contains(">0s</text>"));
        // 12s and 13s stand 646/13 = 50 px apart, enough for 3-character labels.
        assert!(svg.contains(">13s</text>"));
        let many: Vec<String> = (0..26).map(|i| format!("{i}s")).collect();
        let svg = Chart::categories("t", "ms", many, vec![("r".into(), vec![Some(1.0); 26])]).svg();
        // Every 3rd is labelled; 25s would stand 646/25 = 26 px after 24s, too close.
        assert!(svg.contains(">24s</text>") && !svg.contains(">25s</text>"));
    }

    #[test]
    fn long_names_keep_their_ends() {
        assert_eq!(shorten("GET /a [canary]", 40), "GET /a [canary]");
        let s = shorten("GET /api/v1/recommendations/of/the/day [canary]", 20);
        assert_eq!(s, "GET /api/…y [canary]");
        assert_eq!(s.chars().count(), 20);
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(0.03, 5.0), 0.01);
    }
}
