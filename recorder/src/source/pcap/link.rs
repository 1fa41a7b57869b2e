//! Link layers: strips the link header of a frame and says what network protocol follows.
//!
//! Supported (LINKTYPE_* numbers from tcpdump.org/linktypes.html): Ethernet (1, with up to
//! two 802.1Q/802.1ad tags), Linux cooked capture v1 (113, `tcpdump -i any` on older
//! libpcap, `dumpcap -i any`) and v2 (276), BSD loopback/NULL (0, host byte order) and
//! OpenBSD LOOP (108, network order), raw IP (101, and 12/14 as some systems number it),
//! raw IPv4 (228) and raw IPv6 (229).

/// What a frame carries after its link header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3<'a> {
    /// An IPv4 or IPv6 packet (the IP version is in its first nibble).
    Ip(&'a [u8]),
    /// Something else (ARP, LLDP, ...): not ours, counted by the caller.
    Other,
    /// The frame is shorter than its link header.
    Short,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

/// True if `link_type` is one [`decap`] understands.
pub fn supported(link_type: u32) -> bool {
    matches!(
        link_type,
        0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276
    )
}

/// A human name for error messages.
pub fn name(link_type: u32) -> &'static str {
    match link_type {
        0 => "NULL/loopback",
        1 => "Ethernet",
        12 | 14 | 101 => "raw IP",
        108 => "OpenBSD loopback",
        113 => "Linux cooked (SLL)",
        228 => "raw IPv4",
        229 => "raw IPv6",
        276 => "Linux cooked v2 (SLL2)",
        105 => "IEEE 802.11",
        127 => "802.11 radiotap",
        _ => "unknown",
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn by_ethertype(ethertype: u16, rest: &[u8]) -> L3<'_> {
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => L3::Ip(rest),
        _ => L3::Other,
    }
}

/// Strips the link header of `frame` captured with `link_type` (which must be
/// [`supported`]).
pub fn decap(link_type: u32, frame: &[u8]) -> L3<'_> {
    match link_type {
        1 => {
            let Some(mut ethertype) = be16(frame, 12) else {
                return L3::Short;
            };
            let mut at = 14;
            // Up to two VLAN tags (802.1ad outer + 802.1Q inner).
            for _ in 0..2 {
                if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
                    break;
                }
                let Some(inner) = be16(frame, at + 2) else {
                    return L3::Short;
                };
                ethertype = inner;
                at += 4;
            }
            match frame.get(at..) {
                Some(rest) => by_ethertype(ethertype, rest),
                None => L3::Short,
            }
        }
        113 => match (be16(frame, 14), frame.get(16..)) {
            (Some(proto), Some(rest)) => by_ethertype(proto, rest),
            _ => L3::Short,
        },
        276 => match (be16(frame, 0), frame.get(20..)) {
            (Some(proto), Some(rest)) => by_ethertype(proto, rest),
            _ => L3::Short,
        },
        0 | 108 => {
            let Some(fam) = frame.get(..4) else {
                return L3::Short;
            };
            // DLT_NULL stores the family in the capturing host's byte order, LOOP in
            // network order; the values are small, so whichever reading is small wins.
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let family = le.min(be);
            // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (BSDs), 28 (FreeBSD),
            // 30 (macOS).
            match family {
                2 | 10 | 24 | 28 | 30 => L3::Ip(&frame[4..]),
                _ => L3::Other,
            }
        }
        12 | 14 | 101 | 228 | 229 => match frame.first() {
            Some(b) if b >> 4 == 4 || b >> 4 == 6 => L3::Ip(frame),
            Some(_) => L3::Other,
            None => L3::Short,
        },
        _ => L3::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &[u8] = &[0x45, 0, 0, 20];

    #[test]
    fn ethernet_plain_and_vlan() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(IP);
        assert_eq!(decap(1, &f), L3::Ip(IP));
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x86, 0xdd]);
        v.extend_from_slice(&[0x60, 0, 0, 0]);
        assert_eq!(decap(1, &v), L3::Ip(&[0x60, 0, 0, 0]));
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 1, 2]);
        assert_eq!(decap(1, &arp), L3::Other);
        assert_eq!(decap(1, &[0; 13]), L3::Short);
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(IP);
        assert_eq!(decap(113, &sll), L3::Ip(IP));
        let mut sll2 = vec![0x86, 0xdd];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(IP);
        assert_eq!(decap(276, &sll2), L3::Ip(IP));
        assert_eq!(decap(276, &[0x08, 0x00, 1]), L3::Short);
    }

    #[test]
    fn null_loopback_either_byte_order() {
        let mut le = 2u32.to_le_bytes().to_vec();
        le.extend_from_slice(IP);
        assert_eq!(decap(0, &le), L3::Ip(IP));
        let mut be = 30u32.to_be_bytes().to_vec();
        be.extend_from_slice(IP);
        assert_eq!(decap(108, &be), L3::Ip(IP));
        let mut other = 7u32.to_le_bytes().to_vec();
        other.extend_from_slice(IP);
        assert_eq!(decap(0, &other), L3::Other);
    }

    #[test]
    fn raw_ip() {
        assert_eq!(decap(101, IP), L3::Ip(IP));
        assert_eq!(decap(229, &[0x60, 1]), L3::Ip(&[0x60, 1]));
        assert_eq!(decap(101, &[0x10]), L3::Other);
        assert_eq!(decap(101, &[]), L3::Short);
        assert!(supported(276) && !supported(105));
    }
}
