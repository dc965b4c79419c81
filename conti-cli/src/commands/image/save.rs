//! `conti-cli image save [-o FILE] REF`: the image as a `docker save` tar, on stdout or in a
//! file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::{ByteStream, Client};
use crate::commands::CliError;

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The image: a name or an id.
    #[arg(value_name = "REF")]
    pub image: String,
}

pub async fn save(client: &Client, args: SaveArgs) -> Result<u8, CliError> {
    let Some(path) = &args.output else {
        if std::io::stdout().is_terminal() {
            return Err(CliError::Usage(
                "refusing to write a tar archive to a terminal: use -o FILE or redirect stdout"
                    .into(),
            ));
        }
        let mut archive = client.save_image(&args.image).await?;
        let mut stdout = tokio::io::stdout();
        copy(&mut archive, &mut stdout).await?;
        return Ok(0);
    };
    // Asked before the file is made: an unknown image leaves no empty file behind.
    let mut archive = client.save_image(&args.image).await?;
    save_to_file(&mut archive, path).await?;
    Ok(0)
}

/// Writes a file next to `path` and renames it over `path` once whole, so that a failed save
/// never leaves a cut archive under the name asked for.
async fn save_to_file(archive: &mut ByteStream, path: &Path) -> Result<(), CliError> {
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} is not a file name", path.display())))?;
    let partial = path.with_file_name(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = async {
        let mut file = tokio::fs::File::create(&partial).await?;
        copy(archive, &mut file).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, path).await?;
        Ok::<_, CliError>(())
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    written
}

async fn copy(
    archive: &mut ByteStream,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<(), CliError> {
    while let Some(chunk) = archive.next_chunk().await? {
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_contid::{chunked, fake_contid, json_answer};

    #[tokio::test]
    async fn a_saved_archive_is_written_whole_under_its_name() {
        let (client, server) = fake_contid(vec![
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-tar\r\n\
             transfer-encoding: chunked\r\n\r\n"
                .to_string(),
            chunked("first part,"),
            chunked("second part"),
            "0\r\n\r\n".to_string(),
        ]);
        let dir = std::env::temp_dir().join(format!("conti-cli-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("box.tar");
        let mut archive = client.save_image("team/box:1").await.unwrap();
        save_to_file(&mut archive, &path).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first part,second part"
        );
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
        let request = server.await.unwrap();
        assert!(
            request.starts_with("GET /v1/images/team%2Fbox%3A1/save HTTP/1.1\r\n"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn an_unknown_image_is_an_error_before_any_file() {
        let body = r#"{"code":"image_not_found","message":"no such image: nosuch"}"#;
        let (client, _server) = fake_contid(vec![json_answer("404 Not Found", body)]);
        let error = client.save_image("nosuch").await.err().unwrap();
        assert_eq!(error.api_code(), Some("image_not_found"));
    }
}
