//! Figures about this process read from `/proc` (Linux); zero where unavailable.

/// A snapshot of the process's resource use.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessStats {
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Virtual memory size in bytes.
    pub virtual_bytes: u64,
    /// User + system CPU time in seconds.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// OS threads.
    pub threads: u64,
}

/// Reads the current figures.
pub fn snapshot() -> ProcessStats {
    let page_size = 4096u64;
    let ticks_per_second = 100.0;
    let mut stats = ProcessStats::default();
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let mut fields = statm
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        stats.virtual_bytes = fields.next().unwrap_or(0) * page_size;
        stats.rss_bytes = fields.next().unwrap_or(0) * page_size;
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| {
                fields
                    .get(i)
                    .and_then(|f| f.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            stats.cpu_seconds = (field(11) + field(12)) as f64 / ticks_per_second;
            stats.threads = field(17);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        stats.open_fds = entries.count() as u64;
    }
    stats
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_live_process() {
        let stats = super::snapshot();
        assert!(stats.rss_bytes > 0);
        assert!(stats.threads >= 1);
        assert!(stats.open_fds >= 3);
    }
}
