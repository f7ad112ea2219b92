//! The login CAPTCHA (spec ADM-7): an SVG of six random characters drawn as distorted strokes
//! among noise lines. The glyphs are paths, never `<text>`, so the answer is not in the markup.
//! Answers stay in this node's memory for ten minutes and are good for one attempt.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// A CAPTCHA to show: its id (sent back with the answer) and the image.
#[derive(Debug, Clone)]
pub struct Captcha {
    pub id: String,
    pub svg: String,
}

const LIFETIME: Duration = Duration::from_secs(600);
/// Bound on outstanding CAPTCHAs; the oldest are dropped first.
const MAX_OUTSTANDING: usize = 10_000;
const LENGTH: usize = 6;
const WIDTH: f64 = 220.0;
const HEIGHT: f64 = 70.0;

/// Strokes of each glyph on a 4 x 6 grid (characters that look alike are left out).
fn glyph(c: char) -> &'static [&'static [(f64, f64)]] {
    match c {
        'A' => &[&[(0., 6.), (2., 0.), (4., 6.)], &[(1., 3.5), (3., 3.5)]],
        'C' => &[&[(4., 0.), (0., 0.), (0., 6.), (4., 6.)]],
        'E' => &[
            &[(4., 0.), (0., 0.), (0., 6.), (4., 6.)],
            &[(0., 3.), (3., 3.)],
        ],
        'F' => &[&[(4., 0.), (0., 0.), (0., 6.)], &[(0., 3.), (3., 3.)]],
        'H' => &[
            &[(0., 0.), (0., 6.)],
            &[(4., 0.), (4., 6.)],
            &[(0., 3.), (4., 3.)],
        ],
        'K' => &[
            &[(0., 0.), (0., 6.)],
            &[(4., 0.), (0., 3.5)],
            &[(1.3, 2.7), (4., 6.)],
        ],
        'L' => &[&[(0., 0.), (0., 6.), (4., 6.)]],
        'M' => &[&[(0., 6.), (0., 0.), (2., 3.), (4., 0.), (4., 6.)]],
        'N' => &[&[(0., 6.), (0., 0.), (4., 6.), (4., 0.)]],
        'P' => &[&[(0., 6.), (0., 0.), (4., 0.), (4., 3.), (0., 3.)]],
        'R' => &[
            &[(0., 6.), (0., 0.), (4., 0.), (4., 3.), (0., 3.)],
            &[(1.5, 3.), (4., 6.)],
        ],
        'T' => &[&[(0., 0.), (4., 0.)], &[(2., 0.), (2., 6.)]],
        'U' => &[&[(0., 0.), (0., 6.), (4., 6.), (4., 0.)]],
        'V' => &[&[(0., 0.), (2., 6.), (4., 0.)]],
        'W' => &[&[(0., 0.), (1., 6.), (2., 2.5), (3., 6.), (4., 0.)]],
        'X' => &[&[(0., 0.), (4., 6.)], &[(4., 0.), (0., 6.)]],
        'Y' => &[&[(0., 0.), (2., 3.), (4., 0.)], &[(2., 3.), (2., 6.)]],
        '3' => &[
            &[(0., 0.), (4., 0.), (4., 6.), (0., 6.)],
            &[(1., 3.), (4., 3.)],
        ],
        '4' => &[&[(3., 6.), (3., 0.), (0., 4.), (4., 4.)]],
        '7' => &[&[(0., 0.), (4., 0.), (1.5, 6.)]],
        _ => &[],
    }
}

const ALPHABET: &str = "ACEFHKLMNPRTUVWXY347";

/// Draws `answer` as an SVG.
fn draw(answer: &str, rng: &mut impl Rng) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"CAPTCHA\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#f4f1ea\"/>"
    );
    let colours = ["#1d3557", "#6a040f", "#264653", "#3a0ca3", "#283618"];
    let slot = WIDTH / (answer.len() as f64 + 1.0);
    for (i, c) in answer.chars().enumerate() {
        let scale = rng.gen_range(6.0..8.0);
        let angle: f64 = rng.gen_range(-0.3..0.3);
        let (sin, cos) = angle.sin_cos();
        let ox = slot * (i as f64 + 0.6) + rng.gen_range(-4.0..4.0);
        let oy = rng.gen_range(8.0..HEIGHT - 6.0 * scale - 6.0);
        let colour = colours[rng.gen_range(0..colours.len())];
        let mut d = String::new();
        for stroke in glyph(c) {
            for (j, (x, y)) in stroke.iter().enumerate() {
                let x = (x - 2.0 + rng.gen_range(-0.25..0.25)) * scale;
                let y = (y - 3.0 + rng.gen_range(-0.25..0.25)) * scale;
                let (rx, ry) = (x * cos - y * sin, x * sin + y * cos);
                let cmd = if j == 0 { 'M' } else { 'L' };
                let _ = write!(
                    d,
                    "{cmd}{:.1} {:.1} ",
                    ox + 2.0 * scale + rx,
                    oy + 3.0 * scale + ry
                );
            }
        }
        let _ = write!(
            svg,
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{:.1}\" \
             stroke-linecap=\"round\" stroke-linejoin=\"round\"/>",
            d.trim_end(),
            rng.gen_range(2.2..3.2)
        );
    }
    for _ in 0..7 {
        let colour = colours[rng.gen_range(0..colours.len())];
        let _ = write!(
            svg,
            "<path d=\"M{:.1} {:.1} Q{:.1} {:.1} {:.1} {:.1}\" fill=\"none\" stroke=\"{colour}\" \
             stroke-width=\"{:.1}\" opacity=\"0.7\"/>",
            rng.gen_range(0.0..WIDTH / 3.0),
            rng.gen_range(0.0..HEIGHT),
            rng.gen_range(0.0..WIDTH),
            rng.gen_range(0.0..HEIGHT),
            rng.gen_range(WIDTH * 2.0 / 3.0..WIDTH),
            rng.gen_range(0.0..HEIGHT),
            rng.gen_range(1.0..2.5)
        );
    }
    for _ in 0..40 {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.1}\" fill=\"#555\" opacity=\"0.5\"/>",
            rng.gen_range(0.0..WIDTH),
            rng.gen_range(0.0..HEIGHT),
            rng.gen_range(0.5..1.6)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Outstanding CAPTCHAs of this node.
#[derive(Default)]
pub(crate) struct Captchas {
    outstanding: Mutex<HashMap<String, (String, Instant)>>,
}

impl Captchas {
    /// Makes a new CAPTCHA and remembers its answer.
    pub(crate) fn issue(&self) -> Captcha {
        let mut rng = rand::thread_rng();
        let alphabet: Vec<char> = ALPHABET.chars().collect();
        let answer: String = (0..LENGTH)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        let id = hex::encode(rng.r#gen::<[u8; 16]>());
        let svg = draw(&answer, &mut rng);
        if let Ok(mut map) = self.outstanding.lock() {
            map.retain(|_, (_, at)| at.elapsed() < LIFETIME);
            if map.len() >= MAX_OUTSTANDING
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
            map.insert(id.clone(), (answer, Instant::now()));
        }
        Captcha { id, svg }
    }

    /// Checks an answer; the CAPTCHA is spent whatever the outcome.
    pub(crate) fn check(&self, id: &str, answer: &str) -> bool {
        let Ok(mut map) = self.outstanding.lock() else {
            return false;
        };
        match map.remove(id) {
            Some((expected, at)) => {
                at.elapsed() < LIFETIME && expected.eq_ignore_ascii_case(answer.trim())
            }
            None => false,
        }
    }

    #[cfg(test)]
    fn answer_of(&self, id: &str) -> Option<String> {
        self.outstanding
            .lock()
            .ok()?
            .get(id)
            .map(|(a, _)| a.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_one_use_and_case_insensitive() {
        let c = Captchas::default();
        let one = c.issue();
        let answer = c.answer_of(&one.id).unwrap_or_default();
        assert_eq!(answer.len(), LENGTH);
        assert!(!c.check(&one.id, "wrong!"), "a wrong answer fails");
        assert!(!c.check(&one.id, &answer), "and spends the CAPTCHA");
        let two = c.issue();
        let answer = c.answer_of(&two.id).unwrap_or_default();
        assert!(c.check(&two.id, &answer.to_lowercase()));
        assert!(!c.check(&two.id, &answer), "one use");
        assert!(!c.check("no-such-id", "x"));
    }

    #[test]
    fn the_image_does_not_contain_the_answer() {
        let c = Captchas::default();
        let cap = c.issue();
        let answer = c.answer_of(&cap.id).unwrap_or_default();
        assert!(cap.svg.starts_with("<svg") && cap.svg.ends_with("</svg>"));
        assert!(!cap.svg.contains("<text"));
        assert!(!cap.svg.contains(&answer));
        for ch in ALPHABET.chars() {
            assert!(!glyph(ch).is_empty(), "{ch} has strokes");
        }
    }
}
