//! Tests of the pcap/pcapng reader: headers, blocks, truncation, link types.

use super::*;

fn pcap_header(link: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&PCAP_MAGIC_US.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&link.to_le_bytes());
    v
}

fn pcap_record(v: &mut Vec<u8>, sec: u32, usec: u32, data: &[u8]) {
    v.extend_from_slice(&sec.to_le_bytes());
    v.extend_from_slice(&usec.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
}

#[test]
fn pcap_records_in_order_with_times() {
    let mut f = pcap_header(101);
    pcap_record(&mut f, 10, 5, b"abc");
    pcap_record(&mut f, 11, 0, b"de");
    let mut r = CaptureReader::new(&f[..]).expect("header");
    let p = r.next_packet().expect("ok").expect("packet");
    assert_eq!(
        (p.number, p.ts_us, p.link_type, p.data),
        (1, Some(10_000_005), 101, &b"abc"[..])
    );
    let p = r.next_packet().expect("ok").expect("packet");
    assert_eq!(
        (p.number, p.ts_us, p.data),
        (2, Some(11_000_000), &b"de"[..])
    );
    assert!(r.next_packet().expect("ok").is_none());
}

#[test]
fn truncated_pcap_names_the_packet() {
    let mut f = pcap_header(1);
    pcap_record(&mut f, 1, 0, b"abcdef");
    pcap_record(&mut f, 2, 0, b"abcdef");
    f.truncate(f.len() - 3);
    let mut r = CaptureReader::new(&f[..]).expect("header");
    assert!(r.next_packet().expect("ok").is_some());
    match r.next_packet() {
        Err(FileError::Malformed {
            packet, message, ..
        }) => {
            assert_eq!(packet, Some(2));
            assert!(message.contains("packet record"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn huge_record_length_is_refused_without_allocating() {
    let mut f = pcap_header(1);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&u32::MAX.to_le_bytes());
    f.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut r = CaptureReader::new(&f[..]).expect("header");
    assert!(matches!(
        r.next_packet(),
        Err(FileError::Malformed {
            packet: Some(1),
            ..
        })
    ));
}

#[test]
fn not_a_capture() {
    assert!(matches!(
        CaptureReader::new(&b"GET / HTTP/1.1\r\n"[..]),
        Err(FileError::NotACapture(_))
    ));
    assert!(matches!(
        CaptureReader::new(&b""[..]),
        Err(FileError::NotACapture(_))
    ));
}

fn block(v: &mut Vec<u8>, ty: u32, body: &[u8]) {
    let total = 12 + body.len().div_ceil(4) * 4;
    v.extend_from_slice(&ty.to_be_bytes());
    v.extend_from_slice(&(total as u32).to_be_bytes());
    v.extend_from_slice(body);
    v.resize(v.len() + (total - 12 - body.len()), 0);
    v.extend_from_slice(&(total as u32).to_be_bytes());
}

#[test]
fn pcapng_big_endian_with_nanosecond_interface() {
    let mut f = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&PCAPNG_BOM.to_be_bytes());
    shb.extend_from_slice(&1u16.to_be_bytes());
    shb.extend_from_slice(&0u16.to_be_bytes());
    shb.extend_from_slice(&u64::MAX.to_be_bytes());
    block(&mut f, PCAPNG_SHB, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&276u16.to_be_bytes());
    idb.extend_from_slice(&0u16.to_be_bytes());
    idb.extend_from_slice(&0u32.to_be_bytes());
    // if_tsresol = 9 (nanoseconds)
    idb.extend_from_slice(&9u16.to_be_bytes());
    idb.extend_from_slice(&1u16.to_be_bytes());
    idb.extend_from_slice(&[9, 0, 0, 0]);
    idb.extend_from_slice(&[0, 0, 0, 0]);
    block(&mut f, 1, &idb);
    block(&mut f, 5, &[1, 2, 3, 4]); // statistics: skipped
    let ts: u64 = 1_700_000_000_123_456_789;
    let mut epb = Vec::new();
    epb.extend_from_slice(&0u32.to_be_bytes());
    epb.extend_from_slice(&((ts >> 32) as u32).to_be_bytes());
    epb.extend_from_slice(&(ts as u32).to_be_bytes());
    epb.extend_from_slice(&5u32.to_be_bytes());
    epb.extend_from_slice(&9u32.to_be_bytes());
    epb.extend_from_slice(b"hello");
    block(&mut f, 6, &epb);
    let mut r = CaptureReader::new(&f[..]).expect("shb");
    let p = r.next_packet().expect("ok").expect("packet");
    assert_eq!(p.number, 1);
    assert_eq!(p.ts_us, Some(1_700_000_000_123_456));
    assert_eq!(p.link_type, 276);
    assert_eq!(p.data, b"hello");
    assert_eq!(p.orig_len, 9);
    assert!(r.next_packet().expect("ok").is_none());
}

#[test]
fn pcapng_packet_for_unknown_interface_is_an_error() {
    let mut f = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&PCAPNG_BOM.to_be_bytes());
    shb.extend_from_slice(&1u16.to_be_bytes());
    shb.extend_from_slice(&0u16.to_be_bytes());
    shb.extend_from_slice(&u64::MAX.to_be_bytes());
    block(&mut f, PCAPNG_SHB, &shb);
    block(&mut f, 6, &[0; 20]);
    let mut r = CaptureReader::new(&f[..]).expect("shb");
    assert!(matches!(
        r.next_packet(),
        Err(FileError::Malformed {
            packet: Some(1),
            ..
        })
    ));
}
