//! Sessions of several images (projects): the other images that hold supports are found like
//! the labelled one and the image modality learns from each, into one support set; the images
//! segmented in one run pool their class reports into `project-report.csv`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chipscope_core::dataset::Dataset;
use chipscope_core::display::DisplayRange;
use chipscope_core::encoders::ChipSource;
use chipscope_core::fusion::Modality;
use chipscope_core::grid::ChipGrid;
use chipscope_core::pipeline::Learned;
use chipscope_core::report::{ClassReport, ProjectReport};
use chipscope_core::session::{DataSource, Session};

use super::{Fingerprint, ImageModel, SegmentArgs, Segmenter, beside_session, open_found};
use crate::files::simulated_example;

/// The file, in `--out`, of the class reports of the images segmented and all of them pooled.
const PROJECT_REPORT: &str = "project-report.csv";

/// One of the project's other images that holds supports, and where it was found.
pub(super) struct ProjectImage {
    /// Its place in the project ([`Session::all_images`]): 1 for the first of
    /// [`Session::images`].
    place: u32,
    /// Its identity, which its supports name.
    identity: String,
    source: DataSource,
    location: Location,
    /// How messages name it.
    name: String,
}

/// Where a project image's data comes from.
enum Location {
    /// A file, with the fingerprint its source recorded, and whether it is one of the IMAGEs.
    File {
        path: PathBuf,
        recorded: Fingerprint,
        from_images: bool,
    },
    /// The simulated example, simulated again.
    Example { size: usize, seed: u64 },
}

impl Location {
    /// The file of `source`, a file or URL: one of the IMAGEs with its sha256, else the file
    /// of its recorded name next to the session file.
    fn find_file(source: &DataSource, args: &SegmentArgs) -> Result<Self> {
        let (name, recorded) = Fingerprint::recorded(source).expect("a file records its bytes");
        if let Some(path) = args.images.iter().find(|path| recorded.matches_file(path)) {
            return Ok(Location::File {
                path: path.clone(),
                recorded,
                from_images: true,
            });
        }
        let path = beside_session(name, args).with_context(|| {
            format!(
                "some of the session's supports were clicked on its project image {}, which is \
                 neither among the images nor next to {}; give it as one of the IMAGEs or put \
                 it next to the session file",
                source.describe(),
                args.session.display()
            )
        })?;
        Ok(Location::File {
            path,
            recorded,
            from_images: false,
        })
    }
}

/// A project image opened.
struct Found {
    dataset: Dataset,
    /// Its file's identity; none for the simulated example.
    fingerprint: Option<Fingerprint>,
    /// Whether one of the IMAGEs is this very file (so it is segmented too).
    among_images: bool,
}

/// The project's other images that hold supports, in project order, each located as
/// [`ProjectImage::locate`] says; the listed images without supports are not needed. An image
/// that cannot be found is an error naming it.
pub(super) fn find_images(session: &Session, args: &SegmentArgs) -> Result<Vec<ProjectImage>> {
    let labels = session.labels();
    let holding = labels.images_elsewhere();
    let mut found = Vec::new();
    for (place, source) in session.all_images().enumerate().skip(1) {
        let identity = source.identity();
        if holding.contains(&identity.as_str()) {
            let place = u32::try_from(place).expect("a project lists at most 1000 images");
            found.push(ProjectImage::locate(source, place, identity, args)?);
        }
    }
    Ok(found)
}

impl ProjectImage {
    /// Finds the image of `source`: one of the IMAGEs with its sha256, else the file of its
    /// recorded name next to the session file (a warning when opened if its bytes differ); the
    /// simulated example is simulated again.
    fn locate(
        source: &DataSource,
        place: u32,
        identity: String,
        args: &SegmentArgs,
    ) -> Result<Self> {
        let location = match *source {
            DataSource::Example { size, seed } => Location::Example { size, seed },
            _ => Location::find_file(source, args)?,
        };
        let name = match &location {
            Location::File { path, .. } => path.display().to_string(),
            Location::Example { .. } => source.describe(),
        };
        Ok(Self {
            place,
            identity,
            source: source.clone(),
            location,
            name,
        })
    }

    /// The image, read and opened.
    fn open(&self, args: &SegmentArgs) -> Result<Found> {
        match &self.location {
            Location::Example { size, seed } => Ok(Found {
                dataset: simulated_example(*size, *seed)?.dataset,
                fingerprint: None,
                among_images: false,
            }),
            Location::File {
                path,
                recorded,
                from_images,
            } => {
                let (opened, fingerprint, among_images) =
                    open_found(path, *from_images, recorded, &self.source, args)?;
                Ok(Found {
                    dataset: opened.dataset,
                    fingerprint: Some(fingerprint),
                    among_images,
                })
            }
        }
    }
}

/// Says so when the session is a project of several images and weights the atom or spectral
/// modality: it is classified by the image alone ([`chipscope_core::fusion::Fusion::for_images`]).
pub(super) fn say_if_image_alone(session: &Session) {
    let images = session.all_images().count();
    let weighed: Vec<&str> = [(Modality::Atoms, "atom"), (Modality::Spectra, "spectral")]
        .into_iter()
        .filter(|&(modality, _)| session.fusion.weighs(modality))
        .map(|(_, name)| name)
        .collect();
    if images > 1 && !weighed.is_empty() {
        let noun = match weighed.len() {
            1 => "modality",
            _ => "modalities",
        };
        println!(
            "the session is a project of {images} images: its chips are classified by the image \
             alone, not by the {} {noun} it weights",
            weighed.join(" and ")
        );
    }
}

impl Segmenter {
    /// The image modality's support set over the project: `first`, learned on the labelled
    /// image, joined with what the supports on each of `images` teach
    /// ([`Learned::on_image`], [`Learned::joined`]); `first` alone when there are none.
    ///
    /// Each image is opened, brought to the session's pixel size as an image to segment is,
    /// chipped on the session's grid and shown in its own display range (the page treats the
    /// project's images other than the first so), then measured as
    /// [`ImageModel::learn_on`] says: every chip in dense mode or when the image is also one of
    /// the IMAGEs, else its support chips alone. The measurement of an image among the IMAGEs
    /// is kept in `model` and reused when it is segmented, so it is embedded once; the files
    /// of those images come back with their places in the project.
    pub(super) fn learn_elsewhere(
        &self,
        model: &mut ImageModel,
        first: Learned,
        images: &[ProjectImage],
        args: &SegmentArgs,
    ) -> Result<(Learned, Vec<(Fingerprint, u32)>)> {
        if images.is_empty() {
            return Ok((first, Vec::new()));
        }
        let labels = self.session.labels();
        let mut parts = vec![first.on_image(0)];
        let mut files = Vec::new();
        for image in images {
            let found = image.open(args)?;
            let dataset = self
                .at_session_scale(found.dataset)
                .with_context(|| format!("cannot learn from the project image {}", image.name))?;
            let grid = self.grid_of(&dataset, image)?;
            let classes = labels.support_indices_on(&image.identity, grid.cols());
            let source = ChipSource {
                image: &dataset.image,
                grid: &grid,
                range: DisplayRange::of(&dataset.image, self.session.display.stretch),
            };
            let (learned, full) =
                model.learn_on(source, &classes, found.among_images, &image.name)?;
            if let (Some(full), Some(fingerprint)) = (full, found.fingerprint) {
                model.kept.push((image.place, full));
                files.push((fingerprint, image.place));
            }
            parts.push(learned.on_image(image.place));
        }
        Ok((Learned::joined(&parts), files))
    }

    /// The session's grid on the project image `image` (its `dataset` at the session's pixel
    /// size), refusing one that does not fit it or leaves a support of the image outside.
    fn grid_of(&self, dataset: &Dataset, image: &ProjectImage) -> Result<ChipGrid> {
        let chip = self.session.grid.chip_size;
        let (width, height) = (dataset.image.width(), dataset.image.height());
        let grid = ChipGrid::new(width, height, chip).with_context(|| {
            format!(
                "the session's {chip}-px chips do not fit the project image {} ({width} × \
                 {height} px at the session's pixel size)",
                image.name
            )
        })?;
        let labels = self.session.labels();
        if let Some([row, col]) = labels.outside_on(&image.identity, grid.cols(), grid.rows()) {
            bail!(
                "support chip [{row}, {col}] of the project image {} is outside its {}",
                image.name,
                grid.layout_summary()
            );
        }
        Ok(grid)
    }

    /// Writes the class reports of the single images segmented (`images`, named by their
    /// files) and all of them pooled as [`PROJECT_REPORT`], and prints the pooled shares.
    pub(super) fn write_project_report(&self, images: Vec<(String, ClassReport)>) -> Result<()> {
        let project = ProjectReport::new(images);
        self.save(PROJECT_REPORT, project.to_csv())?;
        let shares: Vec<String> = project
            .pooled
            .rows()
            .iter()
            .map(|row| {
                let share = &row.share;
                let noun = if share.chips == 1 { "chip" } else { "chips" };
                let percent = share.fraction * 100.0;
                format!("{} {} {noun} · {percent:.1} %", share.name, share.chips)
            })
            .collect();
        println!("all {} images: {}", project.images.len(), shares.join("; "));
        println!(
            "  each image's class report and the pooled one: {}",
            self.out.join(PROJECT_REPORT).display()
        );
        Ok(())
    }
}
