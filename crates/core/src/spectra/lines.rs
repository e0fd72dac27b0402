//! X-ray emission lines for markers on spectra and for simulated spectra: for every element
//! from Be to U, its Kα, Kβ, Lα, Lβ₁ and Mα lines up to 20.5 keV with their weights relative to
//! the strongest line of their family. Energies and weights are the tabulated values of exspy
//! 0.3.2's element database (`exspy.material.elements`), extracted by a script that printed
//! `(Z, symbol, line, energy keV, weight)` for those five lines.

/// One emission line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct XrayLine {
    /// Atomic number of the element, 4 (Be) to 92 (U).
    pub z: u8,
    /// Element symbol ("Fe").
    pub element: &'static str,
    /// Siegbahn name: "Ka", "Kb", "La", "Lb1" or "Ma".
    pub line: &'static str,
    /// Line energy, keV.
    pub energy_kev: f64,
    /// Intensity relative to the family's main line (Kα, Lα or Mα have 1).
    pub weight: f64,
}

/// The lines of `element` (a symbol such as "Fe", any case), strongest families first.
pub fn lines_of(element: &str) -> Vec<XrayLine> {
    LINES
        .iter()
        .filter(|(_, symbol, ..)| symbol.eq_ignore_ascii_case(element))
        .map(|&(z, element, line, energy_kev, weight)| XrayLine {
            z,
            element,
            line,
            energy_kev,
            weight,
        })
        .collect()
}

/// Every line within `tolerance_kev` of `energy_kev`, nearest first (to name a peak).
pub fn lines_near(energy_kev: f64, tolerance_kev: f64) -> Vec<XrayLine> {
    let mut near: Vec<XrayLine> = LINES
        .iter()
        .filter(|(.., energy, _)| (energy - energy_kev).abs() <= tolerance_kev)
        .flat_map(|(_, symbol, ..)| lines_of(symbol))
        .filter(|line| (line.energy_kev - energy_kev).abs() <= tolerance_kev)
        .collect();
    near.sort_by(|a, b| {
        (a.energy_kev - energy_kev)
            .abs()
            .total_cmp(&(b.energy_kev - energy_kev).abs())
    });
    near.dedup();
    near
}

/// Half the width over which a spectrum is smoothed before peaks are picked, keV (about half a
/// line's FWHM), and the least distance between two peaks.
const PEAK_HALF_WIDTH_KEV: f64 = 0.05;
const PEAK_SEPARATION_KEV: f64 = 0.15;

/// A peak of a spectrum and the lines that may make it.
#[derive(Clone, Debug, PartialEq)]
pub struct Peak {
    /// The centre of the peak's channel, keV.
    pub energy_kev: f64,
    /// Lines within half a line width, nearest first.
    pub lines: Vec<XrayLine>,
}

/// The `count` strongest peaks above 0.2 keV of `spectrum` (on `axis`) smoothed over about half
/// a line width (ties go to the higher channel count), at least 0.15 keV apart, strongest
/// first.
pub fn strongest_peaks(spectrum: &[f64], axis: &super::EnergyAxis, count: usize) -> Vec<Peak> {
    let step = axis.scale_kev.abs().max(1e-6);
    let half = (PEAK_HALF_WIDTH_KEV / step).round() as usize;
    let smoothed: Vec<f64> = (0..spectrum.len())
        .map(|c| {
            spectrum[c.saturating_sub(half)..(c + half + 1).min(spectrum.len())]
                .iter()
                .sum()
        })
        .collect();
    let mut candidates: Vec<usize> = (0..spectrum.len())
        .filter(|&c| axis.energy(c) > 0.2 && smoothed[c] > 0.0)
        .collect();
    candidates.sort_by(|&a, &b| {
        let by_smoothed = smoothed[b].total_cmp(&smoothed[a]);
        by_smoothed.then(spectrum[b].total_cmp(&spectrum[a]))
    });
    let mut peaks: Vec<usize> = Vec::new();
    for channel in candidates {
        let apart = |p: &usize| (p.abs_diff(channel) as f64) * step >= PEAK_SEPARATION_KEV;
        if peaks.len() == count {
            break;
        }
        if peaks.iter().all(apart) {
            peaks.push(channel);
        }
    }
    peaks
        .into_iter()
        .map(|channel| {
            let energy_kev = axis.energy(channel) + step / 2.0;
            Peak {
                energy_kev,
                lines: lines_near(energy_kev, PEAK_HALF_WIDTH_KEV),
            }
        })
        .collect()
}

/// Width of Mn Kα (5.8987 keV) on a typical silicon drift detector, keV.
const MN_KA_FWHM_KEV: f64 = 0.130;
const MN_KA_KEV: f64 = 5.8987;

/// The energy window, keV, over which a line at `energy_kev` is integrated for an element map:
/// ± one detector FWHM, the FWHM scaling with energy as √(FWHM(Mn Kα)² + 2.5 eV · (E − E(Mn Kα)))
/// (Fiori and Newbury's model, exspy's default, whose integration window is also 2 FWHM wide).
pub fn integration_window(energy_kev: f64) -> (f64, f64) {
    let squared_ev = (MN_KA_FWHM_KEV * 1000.0).powi(2) + 2500.0 * (energy_kev - MN_KA_KEV);
    let fwhm_kev = squared_ev.max(0.0).sqrt() / 1000.0;
    (energy_kev - fwhm_kev, energy_kev + fwhm_kev)
}

/// The elements of the `count` strongest peaks of `spectrum` (on `axis`), each peak's nearest
/// line's, without repeats, strongest peak first: the elements to mark on a newly opened
/// spectrum image.
pub fn suggested_elements(
    spectrum: &[f64],
    axis: &super::EnergyAxis,
    count: usize,
) -> Vec<&'static str> {
    let mut elements: Vec<&'static str> = Vec::new();
    for peak in strongest_peaks(spectrum, axis, count) {
        if let Some(line) = peak.lines.first()
            && !elements.contains(&line.element)
        {
            elements.push(line.element);
        }
    }
    elements
}

/// The element symbols in `text` (separated by commas, spaces or semicolons, any case:
/// "fe, O" gives `["Fe", "O"]`); a symbol without X-ray lines is refused with a message.
pub fn parse_elements(text: &str) -> Result<Vec<String>, String> {
    let elements: Vec<String> = text
        .split([',', ' ', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut chars = e.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first
                .into_iter()
                .chain(chars.map(|c| c.to_ascii_lowercase()))
                .collect()
        })
        .collect();
    match elements.iter().find(|e| lines_of(e).is_empty()) {
        Some(unknown) => Err(format!(
            "{unknown:?} is not an element symbol with X-ray lines (Be to U)."
        )),
        None => Ok(elements),
    }
}

/// The lines of `elements` marked on a plot of `low..=high` keV: those of relative weight
/// ≥ 0.1 inside it.
pub fn marked_lines(elements: &[impl AsRef<str>], (low, high): (f64, f64)) -> Vec<XrayLine> {
    elements
        .iter()
        .flat_map(|element| lines_of(element.as_ref()))
        .filter(|line| line.weight >= 0.1 && (low..=high).contains(&line.energy_kev))
        .collect()
}

/// The line an element map of `element` shows: its strongest line inside `axis` (above the
/// axis start and 0.1 keV, below its end), the higher energy among equals — so Kα before Lα
/// before Mα.
pub fn map_line(element: &str, axis: &super::EnergyAxis) -> Option<XrayLine> {
    let top = axis.energy(axis.channels);
    lines_of(element)
        .into_iter()
        .filter(|line| line.energy_kev > axis.offset_kev.max(0.1) && line.energy_kev < top)
        .max_by(|a, b| {
            let by_weight = a.weight.total_cmp(&b.weight);
            by_weight.then(a.energy_kev.total_cmp(&b.energy_kev))
        })
}

/// The channels, first and last inclusive, an element map of `line` sums on `axis`: its
/// [`integration_window`], cut to the axis.
pub fn map_channels(line: &XrayLine, axis: &super::EnergyAxis) -> (usize, usize) {
    let (low, high) = integration_window(line.energy_kev);
    let first = axis.channel_of(low).unwrap_or(0);
    let last = axis
        .channel_of(high)
        .unwrap_or(axis.channels.saturating_sub(1));
    (first, last)
}

/// (Z, symbol, line, energy keV, relative weight).
const LINES: &[(u8, &str, &str, f64, f64)] = &[
    (4, "Be", "Ka", 0.10258, 1.0),
    (5, "B", "Ka", 0.1833, 1.0),
    (6, "C", "Ka", 0.2774, 1.0),
    (7, "N", "Ka", 0.3924, 1.0),
    (8, "O", "Ka", 0.5249, 1.0),
    (9, "F", "Ka", 0.6768, 1.0),
    (10, "Ne", "Ka", 0.8486, 1.0),
    (10, "Ne", "Kb", 0.8669, 0.01),
    (11, "Na", "Ka", 1.041, 1.0),
    (11, "Na", "Kb", 1.0721, 0.01),
    (12, "Mg", "Ka", 1.2536, 1.0),
    (12, "Mg", "Kb", 1.305, 0.01),
    (13, "Al", "Ka", 1.4865, 1.0),
    (13, "Al", "Kb", 1.5596, 0.0132),
    (14, "Si", "Ka", 1.7397, 1.0),
    (14, "Si", "Kb", 1.8389, 0.02779),
    (15, "P", "Ka", 2.0133, 1.0),
    (15, "P", "Kb", 2.13916, 0.0498),
    (16, "S", "Ka", 2.3072, 1.0),
    (16, "S", "Kb", 2.46427, 0.06525),
    (17, "Cl", "Ka", 2.6224, 1.0),
    (17, "Cl", "Kb", 2.8156, 0.0838),
    (18, "Ar", "Ka", 2.9577, 1.0),
    (18, "Ar", "Kb", 3.1905, 0.10169),
    (19, "K", "Ka", 3.3138, 1.0),
    (19, "K", "Kb", 3.5896, 0.1039),
    (20, "Ca", "Ka", 3.6917, 1.0),
    (20, "Ca", "Kb", 4.0127, 0.112),
    (20, "Ca", "La", 0.3464, 0.0),
    (21, "Sc", "Ka", 4.0906, 1.0),
    (21, "Sc", "Kb", 4.4605, 0.12839),
    (21, "Sc", "La", 0.4022, 0.308),
    (22, "Ti", "Ka", 4.5109, 1.0),
    (22, "Ti", "Kb", 4.9318, 0.11673),
    (22, "Ti", "La", 0.4555, 0.694),
    (23, "V", "Ka", 4.9522, 1.0),
    (23, "V", "Kb", 5.4273, 0.1225),
    (23, "V", "La", 0.5129, 1.0),
    (24, "Cr", "Ka", 5.4147, 1.0),
    (24, "Cr", "Kb", 5.9467, 0.134),
    (24, "Cr", "La", 0.5722, 1.0),
    (25, "Mn", "Ka", 5.8987, 1.0),
    (25, "Mn", "Kb", 6.4904, 0.1252),
    (25, "Mn", "La", 0.63316, 1.0),
    (26, "Fe", "Ka", 6.4039, 1.0),
    (26, "Fe", "Kb", 7.058, 0.1272),
    (26, "Fe", "La", 0.7045, 1.0),
    (27, "Co", "Ka", 6.9303, 1.0),
    (27, "Co", "Kb", 7.6494, 0.1277),
    (27, "Co", "La", 0.7757, 1.0),
    (28, "Ni", "Ka", 7.4781, 1.0),
    (28, "Ni", "Kb", 8.2647, 0.1277),
    (28, "Ni", "La", 0.8511, 1.0),
    (28, "Ni", "Lb1", 0.8683, 0.1677),
    (29, "Cu", "Ka", 8.0478, 1.0),
    (29, "Cu", "Kb", 8.9053, 0.13157),
    (29, "Cu", "La", 0.9295, 1.0),
    (29, "Cu", "Lb1", 0.9494, 0.03197),
    (30, "Zn", "Ka", 8.6389, 1.0),
    (30, "Zn", "Kb", 9.572, 0.12605),
    (30, "Zn", "La", 1.0116, 1.0),
    (30, "Zn", "Lb1", 1.0347, 0.1679),
    (31, "Ga", "Ka", 9.2517, 1.0),
    (31, "Ga", "Kb", 10.2642, 0.1287),
    (31, "Ga", "La", 1.098, 1.0),
    (31, "Ga", "Lb1", 1.1249, 0.16704),
    (32, "Ge", "Ka", 9.8864, 1.0),
    (32, "Ge", "Kb", 10.9823, 0.1322),
    (32, "Ge", "La", 1.188, 1.0),
    (32, "Ge", "Lb1", 1.2191, 0.16704),
    (33, "As", "Ka", 10.5436, 1.0),
    (33, "As", "Kb", 11.7262, 0.14589),
    (33, "As", "La", 1.2819, 1.0),
    (33, "As", "Lb1", 1.3174, 0.16704),
    (34, "Se", "Ka", 11.222, 1.0),
    (34, "Se", "Kb", 12.4959, 0.1505),
    (34, "Se", "La", 1.3791, 1.0),
    (34, "Se", "Lb1", 1.4195, 0.38848),
    (35, "Br", "Ka", 11.9238, 1.0),
    (35, "Br", "Kb", 13.2922, 0.15289),
    (35, "Br", "La", 1.4809, 1.0),
    (35, "Br", "Lb1", 1.5259, 0.39175),
    (36, "Kr", "Ka", 12.6507, 1.0),
    (36, "Kr", "Kb", 14.1118, 0.1538),
    (36, "Kr", "La", 1.586, 1.0),
    (36, "Kr", "Lb1", 1.6383, 0.39031),
    (37, "Rb", "Ka", 13.3953, 1.0),
    (37, "Rb", "Kb", 14.9612, 0.1558),
    (37, "Rb", "La", 1.6941, 1.0),
    (37, "Rb", "Lb1", 1.7521, 0.39095),
    (38, "Sr", "Ka", 14.165, 1.0),
    (38, "Sr", "Kb", 15.8355, 0.15),
    (38, "Sr", "La", 1.8065, 1.0),
    (38, "Sr", "Lb1", 1.8718, 0.37975),
    (39, "Y", "Ka", 14.9584, 1.0),
    (39, "Y", "Kb", 16.7381, 0.15),
    (39, "Y", "La", 1.9226, 1.0),
    (39, "Y", "Lb1", 1.9959, 0.39127),
    (40, "Zr", "Ka", 15.7753, 1.0),
    (40, "Zr", "Kb", 17.6671, 0.15),
    (40, "Zr", "La", 2.0423, 1.0),
    (40, "Zr", "Lb1", 2.1243, 0.37912),
    (41, "Nb", "Ka", 16.6151, 1.0),
    (41, "Nb", "Kb", 18.6226, 0.15),
    (41, "Nb", "La", 2.1659, 1.0),
    (41, "Nb", "Lb1", 2.2573, 0.32519),
    (42, "Mo", "Ka", 17.4793, 1.0),
    (42, "Mo", "Kb", 19.6072, 0.15),
    (42, "Mo", "La", 2.2932, 1.0),
    (42, "Mo", "Lb1", 2.3948, 0.32736),
    (43, "Tc", "Ka", 18.3671, 1.0),
    (43, "Tc", "La", 2.424, 1.0),
    (43, "Tc", "Lb1", 2.5368, 0.32951),
    (44, "Ru", "Ka", 19.2793, 1.0),
    (44, "Ru", "La", 2.5585, 1.0),
    (44, "Ru", "Lb1", 2.6833, 0.33039),
    (45, "Rh", "Ka", 20.2161, 1.0),
    (45, "Rh", "La", 2.6968, 1.0),
    (45, "Rh", "Lb1", 2.8344, 0.33463),
    (46, "Pd", "La", 2.8386, 1.0),
    (46, "Pd", "Lb1", 2.9903, 0.34375),
    (47, "Ag", "La", 2.9844, 1.0),
    (47, "Ag", "Lb1", 3.1509, 0.35175),
    (48, "Cd", "La", 3.1338, 1.0),
    (48, "Cd", "Lb1", 3.3165, 0.35704),
    (49, "In", "La", 3.287, 1.0),
    (49, "In", "Lb1", 3.4872, 0.3616),
    (50, "Sn", "La", 3.444, 1.0),
    (50, "Sn", "Lb1", 3.6628, 0.43456),
    (51, "Sb", "La", 3.6047, 1.0),
    (51, "Sb", "Lb1", 3.8435, 0.4276),
    (52, "Te", "La", 3.7693, 1.0),
    (52, "Te", "Lb1", 4.0295, 0.43183),
    (53, "I", "La", 3.9377, 1.0),
    (53, "I", "Lb1", 4.2208, 0.43087),
    (54, "Xe", "La", 4.1099, 1.0),
    (54, "Xe", "Lb1", 4.4183, 0.42248),
    (55, "Cs", "La", 4.2864, 1.0),
    (55, "Cs", "Lb1", 4.6199, 0.42983),
    (56, "Ba", "La", 4.4663, 1.0),
    (56, "Ba", "Lb1", 4.8275, 0.43048),
    (57, "La", "La", 4.651, 1.0),
    (57, "La", "Lb1", 5.0421, 0.42631),
    (57, "La", "Ma", 0.8173, 1.0),
    (58, "Ce", "La", 4.8401, 1.0),
    (58, "Ce", "Lb1", 5.2629, 0.43),
    (58, "Ce", "Ma", 0.8455, 1.0),
    (59, "Pr", "La", 5.0333, 1.0),
    (59, "Pr", "Lb1", 5.4893, 0.42872),
    (59, "Pr", "Ma", 0.8936, 1.0),
    (60, "Nd", "La", 5.2302, 1.0),
    (60, "Nd", "Lb1", 5.722, 0.42672),
    (60, "Nd", "Ma", 0.9402, 1.0),
    (61, "Pm", "La", 5.4324, 1.0),
    (61, "Pm", "Lb1", 5.9613, 0.4308),
    (61, "Pm", "Ma", 0.9894, 1.0),
    (62, "Sm", "La", 5.636, 1.0),
    (62, "Sm", "Lb1", 6.2058, 0.43512),
    (62, "Sm", "Ma", 1.0428, 1.0),
    (63, "Eu", "La", 5.846, 1.0),
    (63, "Eu", "Lb1", 6.4565, 0.43904),
    (63, "Eu", "Ma", 1.0991, 1.0),
    (64, "Gd", "La", 6.0576, 1.0),
    (64, "Gd", "Lb1", 6.7131, 0.44127),
    (64, "Gd", "Ma", 1.17668, 1.0),
    (65, "Tb", "La", 6.2728, 1.0),
    (65, "Tb", "Lb1", 6.9766, 0.44104),
    (65, "Tb", "Ma", 1.2326, 1.0),
    (66, "Dy", "La", 6.4952, 1.0),
    (66, "Dy", "Lb1", 7.2481, 0.444),
    (66, "Dy", "Ma", 1.2907, 1.0),
    (67, "Ho", "La", 6.7197, 1.0),
    (67, "Ho", "Lb1", 7.5263, 0.45056),
    (67, "Ho", "Ma", 1.3477, 1.0),
    (68, "Er", "La", 6.9486, 1.0),
    (68, "Er", "Lb1", 7.811, 0.45263),
    (68, "Er", "Ma", 1.405, 1.0),
    (69, "Tm", "La", 7.1803, 1.0),
    (69, "Tm", "Lb1", 8.1023, 0.45831),
    (69, "Tm", "Ma", 1.4624, 1.0),
    (70, "Yb", "La", 7.4158, 1.0),
    (70, "Yb", "Lb1", 8.4019, 0.46224),
    (70, "Yb", "Ma", 1.5215, 1.0),
    (71, "Lu", "La", 7.6556, 1.0),
    (71, "Lu", "Lb1", 8.7092, 0.46975),
    (71, "Lu", "Ma", 1.5816, 1.0),
    (72, "Hf", "La", 7.899, 1.0),
    (72, "Hf", "Lb1", 9.023, 0.46231),
    (72, "Hf", "Ma", 1.6446, 1.0),
    (73, "Ta", "La", 8.146, 1.0),
    (73, "Ta", "Lb1", 9.3429, 0.46248),
    (73, "Ta", "Ma", 1.7101, 1.0),
    (74, "W", "La", 8.3976, 1.0),
    (74, "W", "Lb1", 9.6724, 0.3679),
    (74, "W", "Ma", 1.7756, 1.0),
    (75, "Re", "La", 8.6524, 1.0),
    (75, "Re", "Lb1", 10.0098, 0.4408),
    (75, "Re", "Ma", 1.8423, 1.0),
    (76, "Os", "La", 8.9108, 1.0),
    (76, "Os", "Lb1", 10.3542, 0.43207),
    (76, "Os", "Ma", 1.9138, 1.0),
    (77, "Ir", "La", 9.1748, 1.0),
    (77, "Ir", "Lb1", 10.708, 0.4168),
    (77, "Ir", "Ma", 1.9799, 1.0),
    (78, "Pt", "La", 9.4421, 1.0),
    (78, "Pt", "Lb1", 11.0707, 0.4088),
    (78, "Pt", "Ma", 2.0505, 1.0),
    (79, "Au", "La", 9.713, 1.0),
    (79, "Au", "Lb1", 11.4425, 0.40151),
    (79, "Au", "Ma", 2.1229, 1.0),
    (80, "Hg", "La", 9.989, 1.0),
    (80, "Hg", "Lb1", 11.8238, 0.39504),
    (80, "Hg", "Ma", 2.1964, 1.0),
    (81, "Tl", "La", 10.2682, 1.0),
    (81, "Tl", "Lb1", 12.2128, 0.39112),
    (81, "Tl", "Ma", 2.2708, 1.0),
    (82, "Pb", "La", 10.5512, 1.0),
    (82, "Pb", "Lb1", 12.6144, 0.3836),
    (82, "Pb", "Ma", 2.3459, 1.0),
    (83, "Bi", "La", 10.839, 1.0),
    (83, "Bi", "Lb1", 13.0235, 0.4),
    (83, "Bi", "Ma", 2.4222, 1.0),
    (84, "Po", "La", 11.1308, 1.0),
    (84, "Po", "Lb1", 13.4463, 0.38536),
    (85, "At", "La", 11.4268, 1.0),
    (85, "At", "Lb1", 13.876, 0.38048),
    (86, "Rn", "La", 11.727, 1.0),
    (86, "Rn", "Lb1", 14.3156, 0.38463),
    (87, "Fr", "La", 12.0315, 1.0),
    (87, "Fr", "Lb1", 14.7703, 0.38327),
    (88, "Ra", "La", 12.3395, 1.0),
    (88, "Ra", "Lb1", 15.2359, 0.4),
    (89, "Ac", "La", 12.652, 1.0),
    (89, "Ac", "Lb1", 15.713, 0.4),
    (89, "Ac", "Ma", 2.9239330000000003, 1.0),
    (90, "Th", "La", 12.9683, 1.0),
    (90, "Th", "Lb1", 16.2024, 0.4),
    (90, "Th", "Ma", 2.9968, 1.0),
    (91, "Pa", "La", 13.2913, 1.0),
    (91, "Pa", "Lb1", 16.7025, 0.4),
    (91, "Pa", "Ma", 3.0823, 1.0),
    (92, "U", "La", 13.6146, 1.0),
    (92, "U", "Lb1", 17.22, 0.4),
    (92, "U", "Ma", 3.1708, 1.0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_are_found_and_named() {
        let axis = super::super::EnergyAxis {
            offset_kev: 0.0,
            scale_kev: 0.01,
            channels: 1000,
        };
        let mut spectrum = vec![1.0; 1000];
        for (kev, height) in [(6.40, 50.0), (2.31, 80.0), (6.45, 10.0)] {
            spectrum[(kev / 0.01) as usize] += height;
        }
        let peaks = strongest_peaks(&spectrum, &axis, 2);
        let energies: Vec<f64> = peaks.iter().map(|p| p.energy_kev).collect();
        assert_eq!(energies, [2.315, 6.405]);
        assert_eq!(
            (peaks[0].lines[0].element, peaks[0].lines[0].line),
            ("S", "Ka")
        );
        assert_eq!(
            (peaks[1].lines[0].element, peaks[1].lines[0].line),
            ("Fe", "Ka")
        );
    }

    fn axis(offset_kev: f64, scale_kev: f64, channels: usize) -> super::super::EnergyAxis {
        super::super::EnergyAxis {
            offset_kev,
            scale_kev,
            channels,
        }
    }

    #[test]
    fn suggested_elements_name_the_strongest_peaks_once() {
        let axis = axis(0.0, 0.01, 1000);
        let mut spectrum = vec![1.0; 1000];
        // S Kα strongest, then Fe Kα, then Fe Lα (0.70 keV): Fe is suggested once.
        for (kev, height) in [(2.31, 80.0), (6.40, 50.0), (0.70, 30.0)] {
            spectrum[(kev / 0.01) as usize] += height;
        }
        assert_eq!(suggested_elements(&spectrum, &axis, 3), ["S", "Fe"]);
        assert_eq!(suggested_elements(&spectrum, &axis, 1), ["S"]);
        assert!(suggested_elements(&[0.0; 1000], &axis, 4).is_empty());
    }

    #[test]
    fn typed_elements_are_normalised_or_refused() {
        assert_eq!(
            parse_elements("fe, O;cu  SI").unwrap(),
            ["Fe", "O", "Cu", "Si"]
        );
        assert_eq!(parse_elements(" , ").unwrap(), Vec::<String>::new());
        let refused = parse_elements("Fe, Xx").unwrap_err();
        assert!(
            refused.starts_with("\"Xx\" is not an element symbol"),
            "{refused}"
        );
        // H has no X-ray line in the table (it starts at Be).
        assert!(parse_elements("h").is_err());
    }

    #[test]
    fn marked_lines_are_the_visible_strong_ones() {
        let lines = marked_lines(&["Fe", "O"], (0.1, 7.0));
        let names: Vec<(&str, &str)> = lines.iter().map(|l| (l.element, l.line)).collect();
        // Fe Kβ (7.06 keV) is outside the range; Fe Lα and Lβ1 are kept.
        assert!(names.contains(&("Fe", "Ka")) && names.contains(&("O", "Ka")));
        assert!(!names.contains(&("Fe", "Kb")));
        assert!(lines.iter().all(|l| l.weight >= 0.1 && l.energy_kev <= 7.0));
        assert!(marked_lines(&[] as &[&str], (0.0, 20.0)).is_empty());
    }

    #[test]
    fn element_maps_take_the_highest_main_line_inside_the_axis() {
        let full = axis(0.0, 0.01, 2000);
        let fe = map_line("Fe", &full).unwrap();
        assert_eq!((fe.element, fe.line), ("Fe", "Ka"));
        // An axis ending below Fe Kα maps Fe Lα instead.
        let low = axis(0.0, 0.01, 300);
        assert_eq!(map_line("Fe", &low).unwrap().line, "La");
        // Nothing of C lies above 0.5 keV.
        assert_eq!(map_line("C", &axis(0.5, 0.01, 1000)), None);
        let (first, last) = map_channels(&fe, &full);
        let (a, b) = integration_window(fe.energy_kev);
        assert_eq!(
            (first, last),
            (full.channel_of(a).unwrap(), full.channel_of(b).unwrap())
        );
        // A window running off the axis is cut to it.
        let short = axis(6.35, 0.01, 10);
        assert_eq!(map_channels(&fe, &short), (0, 9));
    }

    #[test]
    fn integration_windows_are_one_fwhm_either_side() {
        // exspy 0.3.2, `exspy._misc.eds.utils.get_FWHM_at_Energy(130, E)`: 0.134770 keV at
        // Fe Kα (6.4039 keV) and 0.053355 keV at C Kα (0.2774 keV).
        for (energy, fwhm) in [(6.4039, 0.134770), (0.2774, 0.053355)] {
            let (low, high) = integration_window(energy);
            assert!((energy - low - fwhm).abs() < 1e-6, "{energy}: {low}");
            assert!((high - energy - fwhm).abs() < 1e-6, "{energy}: {high}");
        }
    }

    #[test]
    fn iron_and_gold_lines() {
        let iron = lines_of("fe");
        let energies: Vec<(&str, f64)> = iron.iter().map(|l| (l.line, l.energy_kev)).collect();
        assert_eq!(energies, [("Ka", 6.4039), ("Kb", 7.058), ("La", 0.7045)]);
        assert_eq!(lines_of("Au").len(), 3);
        assert!(lines_of("Xx").is_empty());
    }

    #[test]
    fn a_peak_is_named_by_the_nearest_lines() {
        let near = lines_near(6.40, 0.02);
        assert_eq!(near[0].element, "Fe");
        assert_eq!(near[0].line, "Ka");
        assert!(lines_near(0.5249, 0.001).iter().any(|l| l.element == "O"));
    }
}
