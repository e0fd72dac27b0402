//! Lispix ripple: a text header (`.rpl`, one `key<TAB>value` per line) describing a dense cube
//! of samples kept in a binary `.raw` file beside it. Spectrum images are stored pixel after
//! pixel (`record-by vector`) or channel plane after channel plane (`record-by image`); both are
//! streamed pixel by pixel into the sparse map, never copied into a dense cube.
//!
//! The samples are read by the `samples` module, shared with DigitalMicrograph spectrum images and
//! TIA spectra.

use super::samples::{DenseCube, SampleFormat, SampleKind};
use super::spectral::SpectralFile;
use super::{DecodeError, Holds, Limits, Reader};
use crate::dataset::{Calibration, normalise_unit};
use crate::spectra::{EnergyAxis, Spectrum};

const FORMAT: &str = "Lispix ripple";
/// Bytes of a `.rpl` examined by [`recognises`]; real headers are under 2 KiB.
const HEADER_PROBE: usize = 16 * 1024;
/// Keys every ripple header has, whose presence identifies one.
const IDENTIFYING_KEYS: [&str; 4] = ["width", "depth", "data-length", "record-by"];

/// Recognises ripple headers (`.rpl`). The data lie in the `.raw` file beside the header, so
/// reading the header alone explains that both are needed; [`read_pair`] reads them.
pub const RIPPLE: Reader = Reader::new(FORMAT, &["rpl"], Holds::Spectra, recognises, |_, _| {
    Err(DecodeError::Unsupported {
        format: FORMAT,
        detail: "a ripple header (.rpl) only describes the data, which are kept in the .raw \
                 file of the same name; open the .rpl together with its .raw file"
            .to_string(),
    })
});

fn recognises(bytes: &[u8]) -> bool {
    let probe = &bytes[..bytes.len().min(HEADER_PROBE)];
    if probe.contains(&0) {
        return false;
    }
    let entries = header_entries(probe);
    IDENTIFYING_KEYS
        .iter()
        .all(|key| entries.iter().any(|(k, _)| k == key))
}

/// Reads a ripple header `rpl` with its data `raw` within `limits`, summing every `bin` energy
/// channels of a spectrum image. A single pixel gives a spectrum; larger maps give a spectrum image whose
/// counts are rounded to whole non-negative numbers (with a note when any were not).
pub fn read_pair(
    rpl: &[u8],
    raw: &[u8],
    bin: usize,
    limits: &Limits,
) -> Result<SpectralFile, DecodeError> {
    let header = Header::parse(rpl)?;
    let cube = header.cube(raw)?;
    let (axis, mut notes) = header.energy_axis()?;
    let (map, spectrum) = if header.width == 1 && header.height == 1 {
        let counts = cube.spectrum(0, 0);
        (None, Some(Spectrum { axis, counts }))
    } else {
        limits.check_image(header.width, header.height)?;
        let survey = cube.survey();
        notes.extend(survey.rounding_notes());
        let calibration = header.pixel_size()?;
        let beam_kv = header.entries.number("beam-energy")?.filter(|&kv| kv > 0.0);
        let map = cube.to_map(axis, bin, calibration, beam_kv, FORMAT)?;
        (Some(map), None)
    };
    Ok(SpectralFile {
        format: FORMAT,
        map,
        spectrum,
        images: Vec::new(),
        notes,
    })
}

format_errors!(FORMAT);

fn missing(key: &str) -> DecodeError {
    corrupt(format!("the .rpl header lacks its '{key}' line"))
}

/// The `(key, value)` lines of a header, keys in lower case. Comments (from `;`) and blank lines
/// are skipped; Oxford INCA's `(MLX::key value)` spelling is accepted too.
fn header_entries(rpl: &[u8]) -> Vec<(String, String)> {
    let text: String = rpl.iter().map(|&b| char::from(b)).collect();
    text.lines()
        .filter_map(|line| {
            let line = line.split(';').next().unwrap_or_default().trim();
            let line = line.trim_start_matches('(').trim_end_matches(')');
            let line = line
                .strip_prefix("MLX::")
                .unwrap_or(line)
                .trim_start_matches('(');
            let (key, value) = line.split_once(|c: char| c.is_whitespace())?;
            let value = value.trim().trim_start_matches(':').trim();
            Some((key.to_ascii_lowercase(), value.to_string()))
        })
        .collect()
}

/// How the samples of one pixel follow each other in the `.raw` file.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RecordBy {
    /// Each pixel's spectrum is contiguous.
    Vector,
    /// Each channel's image is contiguous.
    Image,
}

/// The `key value` lines of a header, with typed look-ups.
struct Entries(Vec<(String, String)>);

impl Entries {
    fn text(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    fn required_text(&self, key: &str) -> Result<&str, DecodeError> {
        self.text(key).ok_or_else(|| missing(key))
    }

    fn number(&self, key: &str) -> Result<Option<f64>, DecodeError> {
        self.text(key)
            .map(|value| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| corrupt(format!("'{key}' is '{value}', not a number")))
            })
            .transpose()
    }

    fn count(&self, key: &str) -> Result<Option<usize>, DecodeError> {
        self.text(key)
            .map(|value| {
                value
                    .parse::<usize>()
                    .map_err(|_| corrupt(format!("'{key}' is '{value}', not a whole number")))
            })
            .transpose()
    }

    fn required_count(&self, key: &str) -> Result<usize, DecodeError> {
        self.count(key)?.ok_or_else(|| missing(key))
    }

    /// A size that must be given and positive.
    fn size(&self, key: &str) -> Result<usize, DecodeError> {
        match self.required_count(key)? {
            0 => Err(corrupt(format!("'{key}' is 0"))),
            size => Ok(size),
        }
    }

    fn sample_format(&self) -> Result<SampleFormat, DecodeError> {
        let data_type = self.required_text("data-type")?;
        let kind = match data_type.to_ascii_lowercase().as_str() {
            "signed" => SampleKind::Signed,
            "unsigned" => SampleKind::Unsigned,
            "float" => SampleKind::Float,
            _ => return Err(corrupt(format!("unknown data-type '{data_type}'"))),
        };
        let length = self.required_count("data-length")?;
        // "dont-care" (single bytes, or the writer's own order) is read as little-endian, the
        // order of the PCs that write these files.
        let little_endian = !self
            .text("byte-order")
            .is_some_and(|order| order.eq_ignore_ascii_case("big-endian"));
        SampleFormat::new(kind, length, little_endian)
            .ok_or_else(|| unsupported(format!("{data_type} samples of {length} bytes")))
    }

    fn record_by(&self) -> Result<RecordBy, DecodeError> {
        let record_by = self.required_text("record-by")?;
        match record_by.to_ascii_lowercase().as_str() {
            "vector" => Ok(RecordBy::Vector),
            "image" => Ok(RecordBy::Image),
            "dont-care" => Err(unsupported(
                "the file holds a single image (record-by dont-care), not spectra".to_string(),
            )),
            _ => Err(corrupt(format!("unknown record-by '{record_by}'"))),
        }
    }
}

/// What a ripple header says about its data.
struct Header {
    entries: Entries,
    width: usize,
    height: usize,
    depth: usize,
    offset: usize,
    sample: SampleFormat,
    record_by: RecordBy,
}

impl Header {
    fn parse(rpl: &[u8]) -> Result<Self, DecodeError> {
        let entries = Entries(header_entries(rpl));
        Ok(Header {
            width: entries.size("width")?,
            height: entries.size("height")?,
            depth: entries.size("depth")?,
            offset: entries.count("offset")?.unwrap_or(0),
            sample: entries.sample_format()?,
            record_by: entries.record_by()?,
            entries,
        })
    }

    /// The samples of `raw` from the header's offset, laid out as the header says.
    fn cube<'a>(&self, raw: &'a [u8]) -> Result<DenseCube<'a>, DecodeError> {
        let (width, height, depth) = (self.width, self.height, self.depth);
        let strides = match self.record_by {
            RecordBy::Vector => [depth, width.saturating_mul(depth), 1],
            RecordBy::Image => [1, width, width.saturating_mul(height)],
        };
        let data = raw.get(self.offset..).unwrap_or_default();
        DenseCube::new(data, self.sample, [width, height, depth], strides).ok_or_else(|| {
            corrupt(format!(
                "the .raw file holds {} bytes, fewer than the {width} × {height} × {depth} \
                 samples of {} bytes from offset {} that its header describes",
                raw.len(),
                self.sample.size(),
                self.offset
            ))
        })
    }

    /// The energy axis from `depth-origin`, `depth-scale` (or Lispix's `ev-per-chan`) and
    /// `depth-units`, with notes on what had to be assumed.
    fn energy_axis(&self) -> Result<(EnergyAxis, Vec<String>), DecodeError> {
        let mut notes = Vec::new();
        let ev_per_channel = self.entries.number("ev-per-chan")?;
        let scale = match self.entries.number("depth-scale")?.or(ev_per_channel) {
            Some(scale) if scale > 0.0 => scale,
            Some(scale) => return Err(corrupt(format!("the channel width is {scale}"))),
            None => {
                notes.push("the header gives no energy calibration: 1 eV per channel".to_string());
                1.0
            }
        };
        let unit = match self.entries.text("depth-units") {
            Some(unit) if !unit.is_empty() && unit != "<undefined>" => unit,
            _ => {
                if ev_per_channel.is_none() {
                    notes.push("the header gives no energy unit: eV assumed".to_string());
                }
                "eV"
            }
        };
        let origin = self.entries.number("depth-origin")?.unwrap_or(0.0);
        let axis = EnergyAxis::in_unit(origin, scale, unit, self.depth).ok_or_else(|| {
            unsupported(format!(
                "its third axis is in {unit}, not an energy: a stack of {} images, not a \
                 spectrum image",
                self.depth
            ))
        })?;
        Ok((axis, notes))
    }

    /// The pixel size, when width and height share one scale in a length unit.
    fn pixel_size(&self) -> Result<Option<Calibration>, DecodeError> {
        let Some(scale) = self.entries.number("width-scale")? else {
            return Ok(None);
        };
        let height_scale = self.entries.number("height-scale")?.unwrap_or(scale);
        let unit = self.entries.text("width-units").and_then(normalise_unit);
        let height_unit = self
            .entries
            .text("height-units")
            .map_or(unit, normalise_unit);
        let same = (height_scale - scale).abs() <= 1e-6 * scale.abs() && height_unit == unit;
        Ok(unit
            .filter(|_| scale > 0.0 && same)
            .map(|unit| Calibration {
                pixel_size: scale,
                unit: unit.to_string(),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(record_by: &str, data: &str) -> String {
        format!(
            "; test\nkey\tvalue\nwidth\t3\nheight\t2\ndepth\t4\noffset\t2\n{data}\n\
             byte-order\tbig-endian\nrecord-by\t{record_by}\nev-per-chan\t10\ndepth-origin\t-50\n\
             width-scale\t0.5\nwidth-units\tnm\nheight-scale\t0.5\nheight-units\tnm\n"
        )
    }

    /// The value of channel `c` of pixel (`x`, `y`) in the test cubes.
    fn test_value(x: usize, y: usize, c: usize) -> u16 {
        (100 * y + 10 * x + c) as u16
    }

    fn big_endian_u16(record_by: &str) -> Vec<u8> {
        let mut raw = vec![0xEE, 0xEE]; // the 2-byte offset
        let order: Vec<(usize, usize, usize)> = match record_by {
            "vector" => (0..2)
                .flat_map(|y| (0..3).flat_map(move |x| (0..4).map(move |c| (x, y, c))))
                .collect(),
            _ => (0..4)
                .flat_map(|c| (0..2).flat_map(move |y| (0..3).map(move |x| (x, y, c))))
                .collect(),
        };
        for (x, y, c) in order {
            raw.extend_from_slice(&test_value(x, y, c).to_be_bytes());
        }
        raw
    }

    #[test]
    fn both_record_orders_give_the_same_map() {
        let data = "data-type\tunsigned\ndata-length\t2";
        for record_by in ["vector", "image"] {
            let rpl = header(record_by, data);
            let file = read_pair(
                rpl.as_bytes(),
                &big_endian_u16(record_by),
                1,
                &Limits::default(),
            )
            .unwrap();
            let map = file.map.unwrap();
            assert_eq!((map.width, map.height, map.axis.channels), (3, 2, 4));
            assert!((map.axis.offset_kev + 0.05).abs() < 1e-12);
            assert!((map.axis.scale_kev - 0.01).abs() < 1e-12);
            assert_eq!(map.calibration.as_ref().unwrap().unit, "nm");
            for (x, y) in [(0, 0), (2, 0), (1, 1)] {
                let expected: Vec<_> = (0..4)
                    .map(|c| (c, u32::from(test_value(x, y, c))))
                    .filter(|&(_, n)| n > 0)
                    .collect();
                assert_eq!(map.pixel(x, y).collect::<Vec<_>>(), expected, "{record_by}");
            }
            assert!(file.notes.is_empty());
        }
    }

    #[test]
    fn float_counts_are_rounded_with_a_note() {
        let rpl = "width\t2\nheight\t1\ndepth\t2\ndata-type\tfloat\ndata-length\t4\n\
                   record-by\tvector\ndepth-scale\t0.01\ndepth-units\tkeV\n";
        let raw: Vec<u8> = [1.4f32, -2.0, 2.5, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = read_pair(rpl.as_bytes(), &raw, 1, &Limits::default()).unwrap();
        let map = file.map.unwrap();
        assert_eq!(map.sum_spectrum(), [4, 3]);
        assert!((map.axis.scale_kev - 0.01).abs() < 1e-12);
        assert_eq!(
            file.notes,
            [
                "2 values were not whole counts and were rounded to the nearest",
                "1 negative values were taken as 0"
            ]
        );
    }

    #[test]
    fn short_raw_files_and_bad_headers_are_refused() {
        let data = "data-type\tunsigned\ndata-length\t2";
        let rpl = header("image", data);
        let raw = big_endian_u16("image");
        assert!(matches!(
            read_pair(rpl.as_bytes(), &raw[..raw.len() - 1], 1, &Limits::default()),
            Err(DecodeError::Corrupt { .. })
        ));
        let without_depth = rpl.replace("depth\t4\n", "");
        assert!(matches!(
            read_pair(without_depth.as_bytes(), &raw, 1, &Limits::default()),
            Err(DecodeError::Corrupt { .. })
        ));
        let huge = rpl.replace("width\t3", &format!("width\t{}", usize::MAX));
        assert!(read_pair(huge.as_bytes(), &raw, 1, &Limits::default()).is_err());
        let three_bytes = header("image", "data-type\tunsigned\ndata-length\t3");
        assert!(matches!(
            read_pair(three_bytes.as_bytes(), &raw, 1, &Limits::default()),
            Err(DecodeError::Unsupported { .. })
        ));
    }

    #[test]
    fn headers_are_recognised_in_both_spellings() {
        assert!(RIPPLE.recognises(header("vector", "data-length\t1").as_bytes()));
        let inca = "(MLX::\n(width 2)\n(height 2)\n(depth 1024)\n(data-length 4)\n\
                    (record-by vector)\n";
        assert!(RIPPLE.recognises(inca.as_bytes()));
        assert!(!RIPPLE.recognises(b"width\t3\nheight\t2\n"));
        assert!(!RIPPLE.recognises(b"#FORMAT : EMSA/MAS Spectral Data File\n"));
    }
}
