//! Languages of tracks: the container's tag (Matroska and MP4 store ISO 639-2 codes such as
//! `eng`, `fre`/`fra`) as the BCP 47 tag HLS wants in `LANGUAGE` (RFC 8216 §4.3.4.1,
//! RFC 5646: the shortest ISO 639 code, `en`, `fr`), and a name to show when a track has
//! no title.
//!
//! The table holds the languages most often met in films and series; a code it does not
//! know passes through as it is (lowercase), which players still show. `und` (undetermined)
//! and `zxx` (no linguistic content) are no language at all.

/// (ISO 639-2/T, ISO 639-2/B or the same, ISO 639-1, English name).
const LANGUAGES: &[(&str, &str, &str, &str)] = &[
    ("ara", "ara", "ar", "Arabic"),
    ("bul", "bul", "bg", "Bulgarian"),
    ("cat", "cat", "ca", "Catalan"),
    ("ces", "cze", "cs", "Czech"),
    ("dan", "dan", "da", "Danish"),
    ("deu", "ger", "de", "German"),
    ("ell", "gre", "el", "Greek"),
    ("eng", "eng", "en", "English"),
    ("est", "est", "et", "Estonian"),
    ("eus", "baq", "eu", "Basque"),
    ("fas", "per", "fa", "Persian"),
    ("fin", "fin", "fi", "Finnish"),
    ("fra", "fre", "fr", "French"),
    ("glg", "glg", "gl", "Galician"),
    ("heb", "heb", "he", "Hebrew"),
    ("hin", "hin", "hi", "Hindi"),
    ("hrv", "hrv", "hr", "Croatian"),
    ("hun", "hun", "hu", "Hungarian"),
    ("ind", "ind", "id", "Indonesian"),
    ("isl", "ice", "is", "Icelandic"),
    ("ita", "ita", "it", "Italian"),
    ("jpn", "jpn", "ja", "Japanese"),
    ("kor", "kor", "ko", "Korean"),
    ("lav", "lav", "lv", "Latvian"),
    ("lit", "lit", "lt", "Lithuanian"),
    ("msa", "may", "ms", "Malay"),
    ("nld", "dut", "nl", "Dutch"),
    ("nor", "nor", "no", "Norwegian"),
    ("nob", "nob", "nb", "Norwegian Bokmål"),
    ("pol", "pol", "pl", "Polish"),
    ("por", "por", "pt", "Portuguese"),
    ("ron", "rum", "ro", "Romanian"),
    ("rus", "rus", "ru", "Russian"),
    ("slk", "slo", "sk", "Slovak"),
    ("slv", "slv", "sl", "Slovenian"),
    ("spa", "spa", "es", "Spanish"),
    ("srp", "srp", "sr", "Serbian"),
    ("swe", "swe", "sv", "Swedish"),
    ("tam", "tam", "ta", "Tamil"),
    ("tha", "tha", "th", "Thai"),
    ("tur", "tur", "tr", "Turkish"),
    ("ukr", "ukr", "uk", "Ukrainian"),
    ("vie", "vie", "vi", "Vietnamese"),
    ("zho", "chi", "zh", "Chinese"),
];

/// The BCP 47 tag for a container's language tag; `None` for no language.
pub fn bcp47(tag: &str) -> Option<String> {
    let tag = tag.trim().to_ascii_lowercase();
    if tag.is_empty() || tag == "und" || tag == "zxx" || tag == "mis" || tag == "mul" {
        return None;
    }
    // Only letters, digits and hyphens: the tag lands inside a quoted playlist attribute.
    if !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || tag.len() > 35 {
        return None;
    }
    Some(
        LANGUAGES
            .iter()
            .find(|(t, b, _, _)| *t == tag || *b == tag)
            .map(|(_, _, one, _)| (*one).to_string())
            .unwrap_or(tag),
    )
}

/// The language a subtitle file's name ends in (`film.fr` → `fr`, `film.fra` → `fr`),
/// when it is one this module knows (`film.final` is no language).
pub fn of_file_stem(stem: &str) -> Option<String> {
    stem.rsplit_once('.')
        .and_then(|(_, l)| bcp47(l))
        .filter(|l| name(l).is_some())
}

/// An English name for a BCP 47 tag this module knows (`fr` → `French`).
pub fn name(bcp47: &str) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .find(|(_, _, one, _)| *one == bcp47)
        .map(|(_, _, _, name)| *name)
}

/// Track names for a group: the title, else the language's name, else `{fallback} N`;
/// a name already taken gets ` (2)`, ` (3)`... (RFC 8216: NAME is unique in a group).
/// Quotes and line breaks, which a quoted attribute cannot hold, become spaces.
pub fn track_names(tracks: &[(Option<&str>, Option<&str>)], fallback: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(tracks.len());
    for (i, (title, language)) in tracks.iter().enumerate() {
        let base: String = title
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| t.chars().take(80).collect())
            .or_else(|| language.and_then(name).map(str::to_string))
            .or_else(|| language.map(str::to_string))
            .unwrap_or_else(|| format!("{fallback} {}", i + 1))
            .chars()
            .map(|c| if c == '"' || c.is_control() { ' ' } else { c })
            .collect();
        let mut candidate = base.clone();
        let mut n = 2;
        while names.contains(&candidate) {
            candidate = format!("{base} ({n})");
            n += 1;
        }
        names.push(candidate);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_639_2_becomes_bcp_47() {
        assert_eq!(bcp47("eng").as_deref(), Some("en"));
        assert_eq!(bcp47("fre").as_deref(), Some("fr"));
        assert_eq!(bcp47("FRA").as_deref(), Some("fr"));
        assert_eq!(bcp47("ger").as_deref(), Some("de"));
        assert_eq!(bcp47("en-US").as_deref(), Some("en-us"));
        assert_eq!(bcp47("gsw").as_deref(), Some("gsw"));
        assert_eq!(bcp47("und"), None);
        assert_eq!(bcp47("e\"n"), None);
    }

    #[test]
    fn names_come_from_titles_then_languages_and_are_unique() {
        let names = track_names(
            &[
                (Some("Director's commentary"), Some("en")),
                (None, Some("fr")),
                (None, Some("fr")),
                (None, None),
                (Some("say \"hi\""), None),
            ],
            "Audio",
        );
        assert_eq!(
            names,
            [
                "Director's commentary",
                "French",
                "French (2)",
                "Audio 4",
                "say  hi "
            ]
        );
    }
}
