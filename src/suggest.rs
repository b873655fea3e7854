//! "Did you mean …?" suggestions by edit distance.
//!
//! Owns only the choice of the nearest candidate; callers word the message.

/// The candidate closest to `unknown`, if it is close enough to be a typo.
pub fn closest<'a, I>(unknown: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    // One- and two-character names are too short to guess at.
    if unknown.chars().count() < 3 {
        return None;
    }
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(unknown, candidate), candidate))
        .filter(|&(distance, candidate)| {
            // One edit per three characters, at least one, as just does.
            distance <= (candidate.chars().count().max(unknown.chars().count()) / 3).max(1)
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// `did you mean `x`?`, when a candidate is close enough.
pub fn did_you_mean<'a, I>(unknown: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(unknown, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_found() {
        assert_eq!(closest("qurey", ["query", "db"]), Some("query"));
        assert_eq!(closest("evalu", ["evalue", "outfmt"]), Some("evalue"));
        assert_eq!(closest("zzzzzz", ["query", "db"]), None);
    }
}
