//! multipart/form-data bodies for upload tests.

/// A form under construction; parts keep the order they are added in.
pub struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Default for Form {
    fn default() -> Self {
        Form::new()
    }
}

impl Form {
    pub fn new() -> Form {
        Form {
            boundary: "reel-test-boundary-7d1f0c".into(),
            body: Vec::new(),
        }
    }

    pub fn text(mut self, name: &str, value: &str) -> Form {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self
    }

    pub fn file(mut self, name: &str, file_name: &str, bytes: &[u8]) -> Form {
        self.body
            .extend_from_slice(self.file_head(name, file_name).as_bytes());
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// The part header of a file whose bytes the caller streams itself.
    pub fn file_head(&self, name: &str, file_name: &str) -> String {
        format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            self.boundary
        )
    }

    /// What closes a streamed file part and the form.
    pub fn tail(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The text fields so far, for a caller that streams a file part after them and ends
    /// with [`tail`](Self::tail); with the content type.
    pub fn finish_fields(self) -> (String, Vec<u8>) {
        (self.content_type(), self.body)
    }

    /// The finished body.
    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (self.content_type(), self.body)
    }
}
