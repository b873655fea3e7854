//! The bundled bio tool specs, run end to end with Debian's samtools, bwa
//! and seqkit on small data made here; outputs are checked for content,
//! with the tools themselves where a format is binary.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::util::{Test, workdir};

/// Two short chromosomes.
const REFERENCE: &str = ">chr1 first\nATGGCGTACGCTAGCTAGGCTAGCTAGCATCGATCGATCGACTAGCTAGCTAGCATCGACTAGCTACGATCG\nATCGATCGTAGCTAGCTAGCTAGGATCGATCGATCGTAGCTAGCTAGCTAGCATGCATCGATCGACTGACT\n>chr2 second\nTTTTGGGGCCCCAAAATTTTGGGGCCCCAAAAGGGGTTTTCCCCAAAAGGGGTTTTCCCCAAAATTTTGGGG\n";

/// The length of each sequence of `REFERENCE`, by name.
fn lengths() -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for line in REFERENCE.lines() {
        match line.strip_prefix('>') {
            Some(header) => out.push((header.split(' ').next().unwrap().to_string(), 0)),
            None => out.last_mut().unwrap().1 += line.len(),
        }
    }
    out
}

fn needs(programs: &[&str]) {
    for program in programs {
        assert!(
            which::which(program).is_ok(),
            "{program} is not on PATH: apt-get install samtools bwa seqkit"
        );
    }
}

fn tool(program: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The file at a stored output's location.
fn stored(output: &serde_json::Value) -> std::path::PathBuf {
    url::Url::parse(output["location"].as_str().unwrap())
        .unwrap()
        .to_file_path()
        .unwrap()
}

#[test]
#[ignore = "needs samtools (apt-get install samtools); run with --run-ignored all"]
fn samtools_faidx_indexes_in_the_work_directory_not_beside_the_input() {
    needs(&["samtools"]);
    let data = workdir();
    let reference = data.path().join("ref.fa");
    std::fs::write(&reference, REFERENCE).unwrap();
    let inputs = json!({ "reference": reference }).to_string();
    let ran = Test::run(&["samtools_faidx", "--inputs", &inputs, "--keep-workdir"]).go();
    let index = &ran.json()["results"]["index"];
    assert_eq!(index["basename"], "ref.fa.fai");
    let text = std::fs::read_to_string(index["path"].as_str().unwrap()).unwrap();
    let rows: Vec<(String, usize)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].parse().unwrap())
        })
        .collect();
    assert_eq!(rows, lengths());
    // The user's folder got nothing new.
    assert!(!data.path().join("ref.fa.fai").exists());
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 1);
}

/// Three reads on chr1, written out of order.
fn unsorted_sam(dir: &Path) -> std::path::PathBuf {
    let read = |name: &str, pos: usize| {
        let seq = &REFERENCE.lines().nth(1).unwrap()[pos - 1..pos + 19];
        format!(
            "{name}\t0\tchr1\t{pos}\t60\t20M\t*\t0\t0\t{seq}\t{}\n",
            "I".repeat(20)
        )
    };
    let sam = format!(
        "@HD\tVN:1.6\tSO:unsorted\n@SQ\tSN:chr1\tLN:{}\n@SQ\tSN:chr2\tLN:{}\n{}{}{}",
        lengths()[0].1,
        lengths()[1].1,
        read("r3", 41),
        read("r1", 1),
        read("r2", 21)
    );
    let path = dir.join("reads.sam");
    std::fs::write(&path, sam).unwrap();
    path
}

#[test]
#[ignore = "needs samtools (apt-get install samtools); run with --run-ignored all"]
fn samtools_sort_then_index() {
    needs(&["samtools"]);
    let data = workdir();
    let store = workdir();
    let sam = unsorted_sam(data.path());
    let uri = format!("file://{}/sort/", store.path().display());
    let inputs = json!({ "alignments": sam }).to_string();
    let ran = Test::run(&["samtools_sort", "--inputs", &inputs, "--result-uri", &uri]).go();
    let sorted = stored(&ran.json()["results"]["sorted"]);
    assert_eq!(
        ran.json()["results"]["sorted"]["format"],
        "edam:format_2572"
    );
    let names: Vec<String> = tool("samtools", &["view", sorted.to_str().unwrap()], data.path())
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(names, ["r1", "r2", "r3"]);

    let inputs = json!({ "bam": sorted }).to_string();
    let uri = format!("file://{}/index/", store.path().display());
    let ran = Test::run(&["samtools_index", "--inputs", &inputs, "--result-uri", &uri]).go();
    let bai = stored(&ran.json()["results"]["index"]);
    assert_eq!(&std::fs::read(&bai).unwrap()[..4], b"BAI\x01");
    // With the index beside it, the BAM answers a region query.
    std::fs::copy(&bai, sorted.with_extension("bam.bai")).unwrap();
    let region = tool(
        "samtools",
        &["view", "-c", sorted.to_str().unwrap(), "chr1:30-50"],
        data.path(),
    );
    assert_eq!(region.trim(), "2");
}

#[test]
#[ignore = "needs bwa (apt-get install bwa); run with --run-ignored all"]
fn bwa_index_then_mem_align_reads_where_they_came_from() {
    needs(&["bwa"]);
    let data = workdir();
    let store = workdir();
    let reference = data.path().join("ref.fa");
    std::fs::write(&reference, REFERENCE).unwrap();
    let uri = format!("file://{}/idx/", store.path().display());
    let inputs = json!({ "reference": reference }).to_string();
    let ran = Test::run(&["bwa_index", "--inputs", &inputs, "--result-uri", &uri]).go();
    let mut names: Vec<String> = ran.json()["results"]["index"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["basename"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ref.fa",
            "ref.fa.amb",
            "ref.fa.ann",
            "ref.fa.bwt",
            "ref.fa.pac",
            "ref.fa.sa"
        ]
    );
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        1,
        "bwa wrote beside the input"
    );

    // Reads from chr1 at 31 and chr2 at 11, aligned against the stored index.
    let line1 = REFERENCE.lines().nth(1).unwrap();
    let line3 = REFERENCE.lines().nth(4).unwrap();
    let fastq = format!(
        "@a\n{}\n+\n{}\n@b\n{}\n+\n{}\n",
        &line1[30..60],
        "I".repeat(30),
        &line3[10..40],
        "I".repeat(30)
    );
    let reads = data.path().join("reads.fq");
    std::fs::write(&reads, fastq).unwrap();
    let indexed = store.path().join("idx/outputs/index/ref.fa");
    let inputs = json!({ "reference": indexed, "reads": reads }).to_string();
    let ran = Test::run(&["bwa_mem", "--inputs", &inputs, "--keep-workdir"]).go();
    let doc = ran.json();
    assert_eq!(
        doc["inputs"]["reference"]["secondaryFiles"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let sam = std::fs::read_to_string(doc["results"]["aligned"]["path"].as_str().unwrap()).unwrap();
    let places: Vec<(String, String, String)> = sam
        .lines()
        .filter(|l| !l.starts_with('@'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].into(), f[2].into(), f[3].into())
        })
        .collect();
    assert_eq!(
        places,
        [
            ("a".into(), "chr1".into(), "31".into()),
            ("b".into(), "chr2".into(), "11".into())
        ]
    );
}

#[test]
#[ignore = "needs seqkit (apt-get install seqkit); run with --run-ignored all"]
fn seqkit_stats_counts_sequences_and_bases() {
    needs(&["seqkit"]);
    let data = workdir();
    let fasta = data.path().join("ref.fa");
    std::fs::write(&fasta, REFERENCE).unwrap();
    let fastq = data.path().join("r.fq");
    std::fs::write(&fastq, "@a\nACGT\n+\nIIII\n@b\nACG\n+\nIII\n@c\nA\n+\nI\n").unwrap();
    let inputs = json!({ "sequences": [fasta, fastq] }).to_string();
    let ran = Test::run(&["seqkit_stats", "--inputs", &inputs, "--keep-workdir"]).go();
    let path = ran.json()["results"]["stats"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let column = |name: &str| rows[0].iter().position(|c| *c == name).unwrap();
    let (n, sum) = (column("num_seqs"), column("sum_len"));
    let total: usize = lengths().iter().map(|(_, len)| len).sum();
    assert_eq!(
        (rows[1][n], rows[1][sum]),
        ("2", total.to_string().as_str())
    );
    assert_eq!((rows[2][n], rows[2][sum]), ("3", "8"));
}
