//! EMSA/MSA single spectra, the Microscopy Society of America's text format (ISO 22029): a
//! header of `#KEYWORD : value` lines, then the values after `#SPECTRUM`, up to `#ENDOFDATA`,
//! either one intensity per channel (`#DATATYPE : Y`) or energy–intensity pairs (`XY`).

use super::spectral::SpectralFile;
use super::{Contents, DecodeError, Holds, Reader};
use crate::spectra::{EnergyAxis, Spectrum};

const FORMAT: &str = "EMSA/MSA";

/// Reads EMSA/MSA spectra.
pub const MSA: Reader = Reader::new(
    FORMAT,
    &["msa", "ems", "mas", "emsa"],
    Holds::Spectra,
    recognises,
    |bytes, _| read(bytes).map(Contents::Spectral),
);

/// The standard makes `#FORMAT` the first line.
fn recognises(bytes: &[u8]) -> bool {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    text[start..]
        .get(..7)
        .is_some_and(|head| head.eq_ignore_ascii_case(b"#FORMAT"))
}

/// The spectrum of an EMSA/MSA file.
fn read(bytes: &[u8]) -> Result<SpectralFile, DecodeError> {
    let msa = Msa::parse(bytes)?;
    let mut notes = msa.point_count_notes()?;
    let (axis, unit_note) = msa.energy_axis()?;
    notes.extend(unit_note);
    Ok(SpectralFile {
        format: FORMAT,
        map: None,
        spectrum: Some(Spectrum {
            axis,
            counts: msa.values,
        }),
        images: Vec::new(),
        notes,
    })
}

format_errors!(FORMAT);

/// A parsed file: its header keywords and its intensities.
struct Msa {
    /// Keywords in upper case, without `#` or unit suffix (`#BEAMKV -kV` is `BEAMKV`).
    header: Vec<(String, String)>,
    values: Vec<f64>,
    /// Whether `#ENDOFDATA` closed the data.
    ended: bool,
}

impl Msa {
    fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut lines = bytes
            .split(|&b| b == b'\n')
            .map(|line| line.iter().map(|&b| char::from(b)).collect::<String>())
            .enumerate();
        let mut msa = Msa {
            header: Vec::new(),
            values: Vec::new(),
            ended: false,
        };
        let mut found_data = false;
        for (_, line) in lines.by_ref() {
            match keyword(&line) {
                Some((key, _)) if key == "SPECTRUM" => {
                    found_data = true;
                    break;
                }
                Some(entry) => msa.header.push(entry),
                None => {}
            }
        }
        if !found_data {
            return Err(corrupt(
                "no #SPECTRUM line: the data are missing".to_string(),
            ));
        }
        let pairs = msa.data_type()? == DataType::Xy;
        for (index, line) in lines {
            if let Some((key, _)) = keyword(&line) {
                if key == "ENDOFDATA" {
                    msa.ended = true;
                    break;
                }
                continue;
            }
            msa.push_line(&line, pairs)
                .map_err(|detail| corrupt(format!("line {}: {detail}", index + 1)))?;
        }
        if msa.values.is_empty() {
            return Err(corrupt("no values after #SPECTRUM".to_string()));
        }
        Ok(msa)
    }

    /// Adds the intensities of one data line: every value, or every second one for pairs.
    fn push_line(&mut self, line: &str, pairs: bool) -> Result<(), String> {
        let numbers: Vec<f64> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|token| !token.is_empty())
            .map(|token| {
                token
                    .parse()
                    .map_err(|_| format!("'{token}' is not a number"))
            })
            .collect::<Result<_, _>>()?;
        if !pairs {
            self.values.extend(numbers);
        } else if numbers.len().is_multiple_of(2) {
            self.values.extend(numbers.iter().skip(1).step_by(2));
        } else {
            return Err("an energy without its intensity".to_string());
        }
        Ok(())
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    /// A header number, as writers spell them: "20.", "2.0 E-06", "2.5 (estimated)".
    fn number(&self, key: &str) -> Result<Option<f64>, DecodeError> {
        let Some(value) = self.text(key).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let parsed = value
            .parse::<f64>()
            .ok()
            .or_else(|| value.replace(' ', "").parse().ok())
            .or_else(|| value.split_whitespace().next()?.parse().ok());
        match parsed {
            Some(number) if number.is_finite() => Ok(Some(number)),
            _ => Err(corrupt(format!("#{key} is '{value}', not a number"))),
        }
    }

    fn data_type(&self) -> Result<DataType, DecodeError> {
        match self
            .text("DATATYPE")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("XY") => Ok(DataType::Xy),
            Some("Y") | None => Ok(DataType::Y),
            Some(other) => Err(DecodeError::Unsupported {
                format: FORMAT,
                detail: format!("#DATATYPE {other} (only Y and XY exist)"),
            }),
        }
    }

    /// A note when `#NPOINTS` disagrees with the values read; an error when, in addition, the
    /// file ends before `#ENDOFDATA` — it was cut short.
    fn point_count_notes(&self) -> Result<Vec<String>, DecodeError> {
        let announced = self.number("NPOINTS")?;
        let read = self.values.len();
        if announced == Some(read as f64) {
            return Ok(Vec::new());
        }
        if !self.ended {
            return Err(corrupt(format!(
                "the data stop after {read} values, without #ENDOFDATA"
            )));
        }
        Ok(announced
            .map(|n| format!("the header announces {n} points; {read} were read"))
            .into_iter()
            .collect())
    }

    /// The energy axis from `#OFFSET`, `#XPERCHAN` and `#XUNITS`, with a note when the unit
    /// had to be assumed.
    fn energy_axis(&self) -> Result<(EnergyAxis, Option<String>), DecodeError> {
        let scale = self.number("XPERCHAN")?.unwrap_or(1.0);
        if scale <= 0.0 {
            return Err(corrupt(format!("#XPERCHAN is {scale}")));
        }
        let offset = self.number("OFFSET")?.unwrap_or(0.0);
        let (unit, note) = match self.text("XUNITS").unwrap_or_default() {
            "" => ("eV", Some("the file gives no energy unit: eV assumed")),
            unit => (unit, None),
        };
        let axis =
            EnergyAxis::in_unit(offset, scale, unit, self.values.len()).ok_or_else(|| {
                DecodeError::Unsupported {
                    format: FORMAT,
                    detail: format!("its axis is in {unit}, not an energy (eV or keV)"),
                }
            })?;
        Ok((axis, note.map(str::to_string)))
    }
}

/// How data lines are laid out.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DataType {
    /// Intensities only.
    Y,
    /// Energy, intensity pairs.
    Xy,
}

/// The keyword and value of a `#KEYWORD -unit : value` line; `None` for other lines.
fn keyword(line: &str) -> Option<(String, String)> {
    let line = line.trim().strip_prefix('#')?;
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    let name = name.trim_start_matches('#').split('-').next()?.trim();
    Some((name.to_ascii_uppercase(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XY: &str = "#FORMAT      : EMSA/MAS Spectral Data File\r\n#NPOINTS : 3.\r\n\
                      #DATATYPE : XY\r\n#XPERCHAN : 0.01\r\n#OFFSET : -0.02\r\n#XUNITS : keV\r\n\
                      #BEAMKV   -kV: 20.0\r\n#SPECTRUM : here\r\n-0.02, 5\r\n-0.01, 6.5\r\n\
                      0.00, 7\r\n#ENDOFDATA : \r\n";

    #[test]
    fn xy_pairs_give_their_intensities_on_a_kev_axis() {
        assert!(MSA.recognises(XY.as_bytes()));
        let file = MSA.read_spectra(XY.as_bytes(), 1).unwrap();
        let spectrum = file.spectrum.unwrap();
        assert_eq!(spectrum.counts, [5.0, 6.5, 7.0]);
        assert_eq!(spectrum.axis.channels, 3);
        assert!((spectrum.axis.offset_kev + 0.02).abs() < 1e-12);
        assert!((spectrum.axis.scale_kev - 0.01).abs() < 1e-12);
        assert!(file.notes.is_empty());
    }

    #[test]
    fn keywords_with_units_and_odd_numbers_are_read() {
        assert_eq!(
            keyword("#BEAMKV   -kV: 120.0"),
            Some(("BEAMKV".to_string(), "120.0".to_string()))
        );
        assert_eq!(
            keyword("##ALPHA-1    : 3.14"),
            Some(("ALPHA".to_string(), "3.14".to_string()))
        );
        assert_eq!(keyword("12.0, 3"), None);
        let msa = Msa {
            header: vec![
                ("TAUWIND".to_string(), "2.0 E-06".to_string()),
                ("NPOINTS".to_string(), "20.".to_string()),
                ("XPERCHAN".to_string(), "oops".to_string()),
            ],
            values: vec![],
            ended: true,
        };
        assert_eq!(msa.number("TAUWIND"), Ok(Some(2e-6)));
        assert_eq!(msa.number("NPOINTS"), Ok(Some(20.0)));
        assert!(msa.number("XPERCHAN").is_err());
    }

    #[test]
    fn cut_files_and_bad_numbers_are_corrupt() {
        let cut = &XY[..XY.find("0.00, 7").unwrap()];
        assert!(matches!(
            MSA.read_spectra(cut.as_bytes(), 1),
            Err(DecodeError::Corrupt { .. })
        ));
        let bad = XY.replace("6.5", "6.x");
        let error = MSA.read_spectra(bad.as_bytes(), 1).unwrap_err();
        assert!(error.to_string().contains("line 10: '6.x'"), "{error}");
        let nm = XY.replace("keV", "nm");
        assert!(matches!(
            MSA.read_spectra(nm.as_bytes(), 1),
            Err(DecodeError::Unsupported { .. })
        ));
    }
}
