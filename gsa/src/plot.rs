//! SVG plots (plotters): Sobol' bars with confidence whiskers, the Morris `mu*`-`sigma` plane,
//! indices over an ODE's save times.

use plotters::prelude::*;

use crate::error::Error;
use crate::morris::MorrisIndices;
use crate::sobol::SobolIndices;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn wrap(path: &str, r: DrawResult) -> Result<(), Error> {
    r.map_err(|e| Error::Plot {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

fn check_output(n_outputs: usize, output: usize) -> Result<(), Error> {
    if output >= n_outputs {
        return Err(Error::DimensionMismatch {
            what: "output index (must be below the number of outputs)",
            expected: n_outputs,
            got: output,
        });
    }
    Ok(())
}

const S1_COLOUR: RGBColor = RGBColor(70, 130, 180);
const ST_COLOUR: RGBColor = RGBColor(220, 120, 40);

/// A bar chart of the first-order (blue) and total (orange) indices of output `output`, one
/// pair of bars per input, with whiskers at `± conf`. Written as SVG to `path`.
///
/// # Errors
/// [`Error::DimensionMismatch`] for an output index out of range; [`Error::Plot`] if the file
/// cannot be written.
pub fn sobol_bars(path: &str, s: &SobolIndices, output: usize, title: &str) -> Result<(), Error> {
    check_output(s.first.len(), output)?;
    let (f, t) = (&s.first[output], &s.total[output]);
    let (fc, tc) = (&s.first_conf[output], &s.total_conf[output]);
    let k = f.len();
    let top = f
        .iter()
        .zip(fc)
        .chain(t.iter().zip(tc))
        .map(|(v, c)| v + c)
        .fold(1.0f64, f64::max)
        * 1.05;
    let bottom = f.iter().zip(fc).map(|(v, c)| v - c).fold(0.0f64, f64::min) * 1.05;
    let names = s.names.clone();
    wrap(
        path,
        (|| -> DrawResult {
            let root = SVGBackend::new(path, (160 + 110 * k as u32, 480)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(52)
                .build_cartesian_2d(-0.5f64..(k as f64 - 0.5), bottom..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(k)
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 {
                        names.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc("index")
                .draw()?;
            for (label, values, confs, offset, colour) in [
                ("S1 (first order)", f, fc, -0.19, S1_COLOUR),
                ("ST (total)", t, tc, 0.19, ST_COLOUR),
            ] {
                chart
                    .draw_series(values.iter().enumerate().map(|(i, &v)| {
                        let x = i as f64 + offset;
                        Rectangle::new([(x - 0.17, 0.0), (x + 0.17, v)], colour.filled())
                    }))?
                    .label(label)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                    });
                chart.draw_series(values.iter().zip(confs).enumerate().map(|(i, (&v, &c))| {
                    let x = i as f64 + offset;
                    PathElement::new(vec![(x, v - c), (x, v + c)], BLACK.stroke_width(2))
                }))?;
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()?;
            root.present()?;
            Ok(())
        })(),
    )
}

/// The Morris plane of output `output`: one labelled point `(mu*, sigma)` per input (inputs
/// far from the origin matter; high `sigma / mu*` means non-linear or interacting).
///
/// # Errors
/// As [`sobol_bars`].
pub fn morris_scatter(
    path: &str,
    m: &MorrisIndices,
    output: usize,
    title: &str,
) -> Result<(), Error> {
    check_output(m.mu_star.len(), output)?;
    let pts: Vec<(f64, f64)> = m.mu_star[output]
        .iter()
        .zip(&m.sigma[output])
        .map(|(&a, &b)| (a, b))
        .collect();
    let xmax = pts.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1e-12) * 1.15;
    let ymax = pts.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-12) * 1.15;
    let names = m.names.clone();
    wrap(
        path,
        (|| -> DrawResult {
            let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..xmax, 0.0..ymax)?;
            chart
                .configure_mesh()
                .x_desc("mu*")
                .y_desc("sigma")
                .draw()?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, S1_COLOUR.filled())))?;
            chart.draw_series(pts.iter().zip(&names).map(|(&p, name)| {
                Text::new(name.clone(), (p.0, p.1), ("sans-serif", 16).into_font())
            }))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (xmax.min(ymax), xmax.min(ymax))],
                BLACK.mix(0.3),
            )))?;
            root.present()?;
            Ok(())
        })(),
    )
}

/// The first-order (dashed) and total (solid) indices of each input over the save times of
/// an ODE model with one observed quantity per time (`times.len()` outputs).
///
/// # Errors
/// [`Error::DimensionMismatch`] if the number of outputs is not `times.len()`; as
/// [`sobol_bars`] otherwise.
pub fn indices_over_time(
    path: &str,
    s: &SobolIndices,
    times: &[f64],
    title: &str,
) -> Result<(), Error> {
    if s.first.len() != times.len() || times.is_empty() {
        return Err(Error::DimensionMismatch {
            what: "times (one per output)",
            expected: s.first.len(),
            got: times.len(),
        });
    }
    let k = s.names.len();
    let (t0, t1) = (times[0], times[times.len() - 1]);
    let t1 = if t1 > t0 { t1 } else { t0 + 1.0 };
    let top = s.total.iter().flatten().fold(1.0f64, |a, &b| a.max(b)) * 1.05;
    let bottom = s.first.iter().flatten().fold(0.0f64, |a, &b| a.min(b)) * 1.05;
    wrap(
        path,
        (|| -> DrawResult {
            let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(52)
                .build_cartesian_2d(t0..t1, bottom..top)?;
            chart.configure_mesh().x_desc("t").y_desc("index").draw()?;
            for i in 0..k {
                let colour = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(
                        times.iter().zip(&s.total).map(|(&t, v)| (t, v[i])),
                        colour.stroke_width(2),
                    ))?
                    .label(format!("ST {}", s.names[i]))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
                chart.draw_series(DashedLineSeries::new(
                    times.iter().zip(&s.first).map(|(&t, v)| (t, v[i])),
                    6,
                    4,
                    colour.stroke_width(1),
                ))?;
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()?;
            root.present()?;
            Ok(())
        })(),
    )
}
