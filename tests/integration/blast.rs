//! The real `blastn` from ncbi-blast+, with a database built by the
//! bundled makeblastdb spec.

use crate::util::{Test, workdir};

pub const SUBJECT: &str = ">seq1 test subject\nATGGCGTACGCTAGCTAGGCTAGCTAGCATCGATCGATCGACTAGCTAGCTAGCATCGACTAGCTACGATCG\nATCGATCGTAGCTAGCTAGCTAGGATCGATCGATCGTAGCTAGCTAGCTAGCATGCATCGATCGACTGACT\n>seq2 another\nTTTTGGGGCCCCAAAATTTTGGGGCCCCAAAAGGGGTTTTCCCCAAAAGGGGTTTTCCCCAAAATTTTGGGG\n";
pub const QUERY: &str = ">q1\nGCTAGCTAGGCTAGCTAGCATCGATCGATCGACTAGCTAGCTAGCATCG\n";

#[test]
#[ignore = "needs ncbi-blast+ (apt-get install ncbi-blast+); run with --run-ignored all"]
fn blastn_finds_hits_in_a_database_built_by_makeblastdb() {
    for program in ["blastn", "makeblastdb"] {
        assert!(
            which::which(program).is_ok(),
            "{program} is not on PATH: apt-get install ncbi-blast+"
        );
    }
    let data = workdir();
    let store = workdir();
    std::fs::write(data.path().join("subject.fa"), SUBJECT).unwrap();
    std::fs::write(data.path().join("query.fa"), QUERY).unwrap();

    // Build the database; its File[] outputs land in one stored folder.
    let db_uri = format!("file://{}/db-run/", store.path().display());
    let inputs =
        serde_json::json!({"sequences": data.path().join("subject.fa"), "db_name": "subject"});
    let ran = Test::run(&[
        "makeblastdb",
        "--inputs",
        &inputs.to_string(),
        "--result-uri",
        &db_uri,
    ])
    .go();
    // One Directory output, its files listed, stored under its name.
    let db = &ran.json()["results"]["db"];
    assert_eq!(db["class"], "Directory");
    assert_eq!(db["location"], format!("{db_uri}outputs/db/db"));
    let listing = db["listing"].as_array().unwrap();
    assert!(listing.len() >= 3, "makeblastdb wrote {listing:?}");
    for file in listing {
        assert_eq!(file["class"], "File");
        assert!(
            file["location"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{db_uri}outputs/db/db/"))
        );
        assert!(file["sha256"].is_string());
    }

    // Search it: the Directory output's location is the Directory input.
    let db_dir = db["location"].as_str().unwrap().to_string();
    let inputs = serde_json::json!({
        "query": data.path().join("query.fa"),
        "db": db_dir,
        "db_name": "subject",
        "evalue": 1e-5,
        "max_target_seqs": 5,
    });
    let ran = Test::run(&[
        "blastn",
        "--inputs",
        &inputs.to_string(),
        "--resources",
        r#"{"cpu": 2}"#,
        "--keep-workdir",
    ])
    .go();
    let doc = ran.json();
    assert!(
        doc["command"]
            .as_str()
            .unwrap()
            .contains("-num_threads '2'")
    );
    let hits = &doc["results"]["hits"];
    let path = hits["path"].as_str().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let first: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
    assert_eq!(first[0], "q1");
    assert_eq!(first[1], "seq1");
    assert_eq!(first[2], "100.000");
    assert_eq!(hits["size"], text.len());
    use sha1::Digest;
    let sha1 = hex::encode(sha1::Sha1::digest(text.as_bytes()));
    assert_eq!(hits["checksum"], format!("sha1${sha1}"));
    assert_eq!(hits["format"], "edam:format_3475");
    assert_eq!(doc["inputs"]["db"]["class"], "Directory");
    assert!(doc["inputs"]["db"]["listing"].as_array().unwrap().len() >= 3);
}
