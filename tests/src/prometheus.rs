//! Reading Prometheus text as Prometheus does.

/// The value of one series (`name{labels}`), if the text has it.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
