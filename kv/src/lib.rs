//! kv
#[cfg(test)]
mod tests {
    #[test]
    fn rocks_links() {
        let d = std::env::temp_dir().join("rockslinktest");
        let db = rocksdb::DB::open_default(&d).expect("open");
        db.put(b"a", b"b").expect("put");
        assert_eq!(db.get(b"a").expect("get").as_deref(), Some(&b"b"[..]));
    }
}
