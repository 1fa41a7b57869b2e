//! The build step: `Merger::finish` turns the sums into the merged [`Report`], every
//! percentile read from a summed histogram.

use super::acc::WindowAcc;
use super::timeline::Timeline;
use super::{First, Merger};
use crate::histogram::encode;
use crate::model::{
    Errors, FORMAT, Group, Percentiles, Report, RunInfo, Summary, TlsSummary, WindowRow,
};

impl Merger {
    pub(super) fn finish(self, timeline: Timeline) -> Report {
        let First {
            plan,
            pipeline,
            load,
            stop,
            warmup_s,
            timeout_s,
        } = self.first.unwrap_or_default();
        let mut invalid = self.invalid;
        if let Some(why) = timeline.invalid {
            invalid.insert(0, why);
        }
        let service = self.service.histogram(3);
        let lag = self.lag.histogram(3);
        let connect = self.connect.histogram(3);
        let per_conn = self.per_conn.histogram(3);
        Report {
            format: FORMAT.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            plan,
            run: RunInfo {
                target: self.targets.join(" "),
                started_at_unix_ms: timeline.first_start,
                connections: self.connections,
                pipeline,
                threads: self.threads,
                load: format!("{load} (x{} workers)", self.files),
                stop,
                warmup_s,
                timeout_s,
            },
            valid: invalid.is_empty(),
            invalid_reason: (!invalid.is_empty()).then(|| invalid.join("; ")),
            interrupted: self.interrupted,
            provenance: self.provenance,
            summary: Summary {
                group: self.summary.group(None, None),
                resent: self.resent,
                dropped: self.dropped,
                logins: self.logins,
                duration_s: self.duration,
                send_rate: (self.send_rate * 10.0).round() / 10.0,
                service_us: Percentiles::of(&service),
                lag_us: Percentiles::of(&lag),
                service_histogram: encode(&service),
                lag_histogram: encode(&lag),
                status: self.status,
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
                connections_opened: self.opened,
                connections_per_s: crate::build::per_second(self.opened, self.duration),
                requests_per_connection: Percentiles::of(&per_conn),
                requests_per_connection_histogram: encode(&per_conn),
                connection_waits: self.conn_waits,
                server_closes: self.closes,
                unsolicited_responses: self.unsolicited,
                connect_us: Percentiles::of(&connect),
                connect_histogram: encode(&connect),
                tls: self.tls.map(|(resumed, errors, h, reasons)| {
                    let h = h.histogram(3);
                    let n = h.len();
                    TlsSummary {
                        handshakes: n,
                        handshakes_per_s: crate::build::per_second(n, self.duration),
                        resumed,
                        resumed_share: if n == 0 {
                            0.0
                        } else {
                            (resumed as f64 * 1000.0 / n as f64).round() / 1000.0
                        },
                        handshake_us: Percentiles::of(&h),
                        handshake_histogram: encode(&h),
                        errors,
                        reasons,
                    }
                }),
            },
            labels: self
                .labels
                .items
                .into_iter()
                .map(|((l, s, auth), a)| Group {
                    auth,
                    ..a.group(l, s)
                })
                .collect(),
            segments: self
                .segments
                .items
                .into_iter()
                .map(|(s, a)| a.group(None, s))
                .collect(),
            window_s: self.window_s,
            windows: self
                .windows
                .into_iter()
                .map(|(second, WindowAcc(requests, ok, e, h))| {
                    let h = h.histogram(ringload_engine::stats::WINDOW_DIGITS);
                    let q = |x| {
                        if h.is_empty() {
                            0
                        } else {
                            h.value_at_quantile(x)
                        }
                    };
                    WindowRow {
                        second,
                        requests,
                        ok,
                        errors: Errors {
                            connect: e[0],
                            timeout: e[1],
                            reset: e[2],
                            protocol: e[3],
                            validation: e[4],
                            auth: e[5],
                        },
                        p50_us: q(0.5),
                        p99_us: q(0.99),
                        histogram: encode(&h),
                    }
                })
                .collect(),
        }
    }
}
