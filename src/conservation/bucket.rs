//! The packages in the cluster's object store. On a cluster the bucket's copy is the
//! package: the node that builds one uploads every file of it under
//! `packages/<pda-id>/` before the transaction that records it, so a recorded package
//! outlives the node; any node reading a package it lacks fetches it into its own
//! packages folder first, where the readers of a single node find it. The fixity audit
//! checks the bucket's copy, fetched afresh.

use std::path::Path;

use crate::conservation::ConservationError;
use crate::conservation::audit;
use crate::conservation::bag;
use crate::conservation::files;
use crate::store::objects::Bucket;

/// The bucket's folder of packages.
const PACKAGES: &str = "packages";

/// Copies the published package `root/<id>` to the bucket, file by file. A package is
/// never overwritten: its id comes from the provider's own counter, so one already
/// there belongs to another database sharing the bucket, and is refused.
pub fn upload(bucket: &Bucket, root: &Path, id: &str) -> Result<(), ConservationError> {
    if !bucket.list(&format!("{PACKAGES}/{id}/"))?.is_empty() {
        return Err(ConservationError::Exists(format!(
            "package {id} in the object store"
        )));
    }
    let dir = root.join(id);
    for relative in files::list(&dir)? {
        let bytes = files::read(&dir.join(&relative))?;
        bucket.put(&format!("{PACKAGES}/{id}/{relative}"), &bytes)?;
    }
    Ok(())
}

/// Makes sure `root/<id>` is there, fetching it from the bucket when it is not:
/// assembled aside, checked, sealed and renamed into place like a package built here.
/// False when neither has it. A copy whose bag does not verify, or whose tag manifest
/// is not the recorded one (`pinned`), is refused and nothing of it kept: whoever can
/// write the bucket cannot slip other bytes to this node's readers.
pub fn fetch(
    bucket: &Bucket,
    root: &Path,
    id: &str,
    pinned: &str,
) -> Result<bool, ConservationError> {
    let target = root.join(id);
    if target.is_dir() {
        return Ok(true);
    }
    let temp = root.join(format!(".fetch-{id}"));
    if temp.exists() {
        files::remove_unpublished(&temp)?;
    }
    let fetched = download(bucket, id, &temp).and_then(|found| {
        if found {
            verify(&temp, id, pinned)?;
            files::sync_files(&temp)?;
            files::seal_dirs(&temp)?;
            files::publish_dir(&temp, &target)?;
        }
        Ok(found)
    });
    if temp.exists() {
        let _ = files::remove_unpublished(&temp);
    }
    match fetched {
        // Fetched meanwhile by another reader of this node: the same bytes.
        Err(ConservationError::Exists(_)) => Ok(true),
        other => other,
    }
}

/// The fetched copy of `id` in `dir` against its bag and the recorded `pinned`.
fn verify(dir: &Path, id: &str, pinned: &str) -> Result<(), ConservationError> {
    let mut problems = bag::check(dir);
    audit::check_pinned(dir, pinned, &mut problems);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConservationError::Invalid(format!(
        "package {id} in the object store does not verify: {}",
        problems.join("; ")
    )))
}

/// Writes the bucket's copy of package `id` into the new folder `dir`; false when the
/// bucket has no such package.
pub fn download(bucket: &Bucket, id: &str, dir: &Path) -> Result<bool, ConservationError> {
    let prefix = format!("{PACKAGES}/{id}/");
    let names = bucket.list(&prefix)?;
    if names.is_empty() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|source| ConservationError::Io {
        context: format!("creating {}", dir.display()),
        source,
    })?;
    for name in &names {
        let relative = name.strip_prefix(&prefix).unwrap_or_default();
        // Whatever the bucket lists stays inside `dir`.
        if relative
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(ConservationError::Invalid(format!(
                "the object store lists {name:?} in package {id}"
            )));
        }
        let bytes = bucket.get(name)?.ok_or_else(|| {
            ConservationError::Invalid(format!("{name} vanished from the object store"))
        })?;
        files::write_in_package(&dir.join(relative), &bytes)?;
    }
    Ok(true)
}

/// The ids of every package the bucket holds, recorded or not.
pub fn ids(bucket: &Bucket) -> Result<Vec<String>, ConservationError> {
    Ok(bucket.folders(&format!("{PACKAGES}/"))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conservation::archive::PackageRecord;
    use crate::conservation::archive::tests::sample_package;
    use crate::store::objects::garage::Garage;

    /// A Garage, its bucket, and a sample package built in a folder and uploaded.
    fn uploaded() -> Option<(Garage, Bucket, tempfile::TempDir, PackageRecord)> {
        let garage = Garage::start()?;
        let bucket = Bucket::connect(&garage.config()).unwrap();
        let built = tempfile::tempdir().unwrap();
        let record = sample_package(built.path());
        upload(&bucket, built.path(), &record.id).unwrap();
        Some((garage, bucket, built, record))
    }

    /// What the bucket holds is the package, file for file; a second package of the
    /// same name is refused, not written over the first.
    #[test]
    fn a_package_uploaded_is_fetched_whole_and_never_overwritten() {
        let Some((_garage, bucket, built, record)) = uploaded() else {
            return;
        };
        let again = upload(&bucket, built.path(), &record.id).unwrap_err();
        assert!(matches!(again, ConservationError::Exists(_)), "{again}");
        assert_eq!(ids(&bucket).unwrap(), vec![record.id.clone()]);

        let elsewhere = tempfile::tempdir().unwrap();
        let pinned = &record.tagmanifest_sha256;
        assert!(fetch(&bucket, elsewhere.path(), &record.id, pinned).unwrap());
        let (original, fetched) = (
            built.path().join(&record.id),
            elsewhere.path().join(&record.id),
        );
        let names = files::list(&original).unwrap();
        assert_eq!(files::list(&fetched).unwrap(), names);
        for name in &names {
            assert_eq!(
                files::read(&fetched.join(name)).unwrap(),
                files::read(&original.join(name)).unwrap(),
                "{name}"
            );
        }
        let unknown = "pda-20260101-999999";
        assert!(!fetch(&bucket, elsewhere.path(), unknown, pinned).unwrap());
        assert!(!elsewhere.path().join(format!(".fetch-{unknown}")).exists());
    }

    /// A node fetching a package the bucket holds altered, or that is not the one
    /// recorded, refuses it and keeps nothing of it.
    #[test]
    fn a_package_altered_in_the_bucket_is_not_fetched() {
        let Some((_garage, bucket, built, record)) = uploaded() else {
            return;
        };
        let node = tempfile::tempdir().unwrap();
        let other = "0".repeat(64);
        let error = fetch(&bucket, node.path(), &record.id, &other).unwrap_err();
        assert!(error.to_string().contains("tagmanifest"), "{error}");
        let message = files::list(&built.path().join(&record.id))
            .unwrap()
            .into_iter()
            .find(|name| name.ends_with("message.eml"))
            .unwrap();
        let key = format!("{PACKAGES}/{}/{message}", record.id);
        bucket
            .put(&key, b"From: nobody\r\n\r\naltered\r\n")
            .unwrap();
        let error =
            fetch(&bucket, node.path(), &record.id, &record.tagmanifest_sha256).unwrap_err();
        assert!(error.to_string().contains("does not verify"), "{error}");
        assert_eq!(std::fs::read_dir(node.path()).unwrap().count(), 0);
    }
}
