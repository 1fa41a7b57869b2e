//! What a result records about the machine it was measured on (its provenance): the kernel
//! (`uname`), the CPU model and how many CPUs there are and may be used.

/// Facts about this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `uname -n`: the machine's name (a pod's name under Kubernetes).
    pub host: String,
    /// `uname -srm`: `Linux 6.1.0-18-amd64 x86_64`.
    pub kernel: String,
    /// The CPU model as `/proc/cpuinfo` names it, or `unknown`.
    pub cpu_model: String,
    /// CPUs online.
    pub cpus: usize,
    /// CPUs this process may run on (its affinity mask: `taskset`, cgroup cpusets).
    pub cpus_allowed: usize,
}

/// This machine's facts (reads `uname` and `/proc/cpuinfo`; a part that cannot be read is
/// `unknown` or 0, never an error: provenance must not stop a run).
pub fn facts() -> Facts {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // SAFETY: sysconf only reads a system value.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let (host, kernel) = uname().unwrap_or_else(|| ("unknown".into(), "unknown".into()));
    Facts {
        host,
        kernel,
        cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
        cpus: usize::try_from(online).unwrap_or(0),
        cpus_allowed: crate::allowed_cpus().len(),
    }
}

/// (`nodename`, `sysname release machine`) from `uname(2)`.
fn uname() -> Option<(String, String)> {
    // SAFETY: uname fills the struct we own; its fields are NUL-terminated C strings.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        u
    };
    let text = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some((
        text(&u.nodename),
        format!(
            "{} {} {}",
            text(&u.sysname),
            text(&u.release),
            text(&u.machine)
        ),
    ))
}

/// The first CPU's model in `/proc/cpuinfo` text: `model name` on x86, `Model`, `cpu model`
/// or `Hardware` elsewhere, `CPU implementer`/`CPU part` on ARM servers that name nothing else.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    let field = |key: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(key) && !v.trim().is_empty())
                .then(|| v.trim().to_string())
        })
    };
    ["model name", "Model", "cpu model", "Hardware", "cpu"]
        .iter()
        .find_map(|k| field(k))
        .or_else(|| {
            let (imp, part) = (field("CPU implementer")?, field("CPU part")?);
            Some(format!("CPU implementer {imp} part {part}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_models_of_x86_arm_and_nothing() {
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\n\
                   model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz\n\
                   processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz\n";
        assert_eq!(
            cpu_model(x86).as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz")
        );
        let graviton = "processor\t: 0\nBogoMIPS\t: 243.75\nCPU implementer\t: 0x41\n\
                        CPU architecture: 8\nCPU part\t: 0xd0c\n";
        assert_eq!(
            cpu_model(graviton).as_deref(),
            Some("CPU implementer 0x41 part 0xd0c")
        );
        let pi = "processor\t: 0\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(
            cpu_model(pi).as_deref(),
            Some("Raspberry Pi 4 Model B Rev 1.4")
        );
        assert_eq!(cpu_model(""), None);
    }

    #[test]
    fn this_machine_has_a_kernel_and_cpus() {
        let f = facts();
        assert!(f.kernel.starts_with("Linux "), "{f:?}");
        assert!(!f.host.is_empty() && f.host != "unknown", "{f:?}");
        assert!(f.cpus >= 1 && f.cpus_allowed >= 1, "{f:?}");
        assert!(f.cpus_allowed <= f.cpus.max(f.cpus_allowed));
    }
}
