//! Signals by consul-template's names (`SIGHUP`, `SIGTERM`, ..., `SIGNULL` for none), as its
//! `kill_signal`, `reload_signal` and `exec { kill_signal, reload_signal }` take them.

use rustix::process::Signal as Raw;

/// A signal named as consul-template names it. `SIGNULL` is "no signal": sending it does
/// nothing. Two names of one signal (`SIGIOT`, `SIGABRT`) are equal.
///
/// ```
/// use discovery_render::consul_template::Signal;
/// let hup = Signal::parse("sighup")?;
/// assert_eq!(hup, Signal::SIGHUP);
/// assert_eq!(hup.to_string(), "SIGHUP");
/// assert_eq!(Signal::parse("SIGIOT")?, Signal::parse("SIGABRT")?);
/// assert!(Signal::parse("HUP").is_err()); // the SIG prefix is part of the name
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, Eq)]
pub struct Signal {
    name: &'static str,
    raw: Option<Raw>,
}

/// consul-template's table of signal names (its `signals.SignalLookup` on Unix).
const TABLE: [Signal; 28] = [
    Signal::new("SIGNULL", None),
    Signal::new("SIGABRT", Some(Raw::ABORT)),
    Signal::new("SIGALRM", Some(Raw::ALARM)),
    Signal::new("SIGBUS", Some(Raw::BUS)),
    Signal::new("SIGCONT", Some(Raw::CONT)),
    Signal::new("SIGFPE", Some(Raw::FPE)),
    Signal::new("SIGHUP", Some(Raw::HUP)),
    Signal::new("SIGILL", Some(Raw::ILL)),
    Signal::new("SIGINT", Some(Raw::INT)),
    Signal::new("SIGIO", Some(Raw::IO)),
    Signal::new("SIGIOT", Some(Raw::ABORT)),
    Signal::new("SIGKILL", Some(Raw::KILL)),
    Signal::new("SIGPIPE", Some(Raw::PIPE)),
    Signal::new("SIGPROF", Some(Raw::PROF)),
    Signal::new("SIGQUIT", Some(Raw::QUIT)),
    Signal::new("SIGSEGV", Some(Raw::SEGV)),
    Signal::new("SIGSTOP", Some(Raw::STOP)),
    Signal::new("SIGSYS", Some(Raw::SYS)),
    Signal::new("SIGTERM", Some(Raw::TERM)),
    Signal::new("SIGTRAP", Some(Raw::TRAP)),
    Signal::new("SIGTSTP", Some(Raw::TSTP)),
    Signal::new("SIGTTIN", Some(Raw::TTIN)),
    Signal::new("SIGTTOU", Some(Raw::TTOU)),
    Signal::new("SIGUSR1", Some(Raw::USR1)),
    Signal::new("SIGUSR2", Some(Raw::USR2)),
    Signal::new("SIGWINCH", Some(Raw::WINCH)),
    Signal::new("SIGXCPU", Some(Raw::XCPU)),
    Signal::new("SIGXFSZ", Some(Raw::XFSZ)),
];

impl Signal {
    /// `SIGNULL`: no signal.
    pub const SIGNULL: Signal = Signal::new("SIGNULL", None);
    /// `SIGHUP`.
    pub const SIGHUP: Signal = Signal::new("SIGHUP", Some(Raw::HUP));
    /// `SIGINT`.
    pub const SIGINT: Signal = Signal::new("SIGINT", Some(Raw::INT));
    /// `SIGTERM`.
    pub const SIGTERM: Signal = Signal::new("SIGTERM", Some(Raw::TERM));
    /// `SIGKILL`.
    pub const SIGKILL: Signal = Signal::new("SIGKILL", Some(Raw::KILL));
    /// `SIGUSR1`.
    pub const SIGUSR1: Signal = Signal::new("SIGUSR1", Some(Raw::USR1));

    const fn new(name: &'static str, raw: Option<Raw>) -> Signal {
        Signal { name, raw }
    }

    /// Parses a name, case-insensitively (`SIGHUP`, `sigterm`); anything else is an error
    /// listing the valid names, as consul-template words it.
    pub fn parse(s: &str) -> Result<Signal, String> {
        let upper = s.to_ascii_uppercase();
        TABLE
            .iter()
            .find(|sig| sig.name == upper)
            .copied()
            .ok_or_else(|| {
                let mut names: Vec<&str> = TABLE.iter().map(|s| s.name).collect();
                names.sort_unstable();
                format!("invalid signal {s:?} - valid signals are {names:?}")
            })
    }

    /// Every named signal that a process can catch (neither `SIGNULL`, `SIGKILL` nor `SIGSTOP`,
    /// nor the fault signals `SIGILL`, `SIGFPE`, `SIGSEGV`, `SIGBUS`, `SIGTRAP`, `SIGSYS`,
    /// `SIGABRT`, nor `SIGPIPE`).
    pub fn catchable() -> impl Iterator<Item = Signal> {
        const NOT: [&str; 11] = [
            "SIGNULL", "SIGKILL", "SIGSTOP", "SIGILL", "SIGFPE", "SIGSEGV", "SIGBUS", "SIGTRAP",
            "SIGSYS", "SIGABRT", "SIGPIPE",
        ];
        TABLE
            .iter()
            .filter(|s| !NOT.contains(&s.name) && s.name != "SIGIOT")
            .copied()
    }

    /// The name (`SIGHUP`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The signal number (0 for `SIGNULL`).
    pub fn number(&self) -> i32 {
        self.raw.map_or(0, Raw::as_raw)
    }

    /// The signal to send, `None` for `SIGNULL`.
    pub(crate) fn raw(&self) -> Option<Raw> {
        self.raw
    }
}

impl PartialEq for Signal {
    fn eq(&self, other: &Signal) -> bool {
        self.number() == other.number()
    }
}

impl std::hash::Hash for Signal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.number().hash(state);
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl std::str::FromStr for Signal {
    type Err = String;
    fn from_str(s: &str) -> Result<Signal, String> {
        Signal::parse(s)
    }
}
