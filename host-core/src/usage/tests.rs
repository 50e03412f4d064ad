use super::{BodyFormat, UsageMeter, from_json};

fn metered(format: BodyFormat, body: &[u8], chunk: usize) -> super::Metered {
    let mut meter = UsageMeter::new(format);
    for piece in body.chunks(chunk) {
        meter.feed(piece);
    }
    meter.finish()
}

#[test]
fn a_json_body_in_pieces() {
    let body = br#"{"id": "x", "choices": [{"message": {"content": "hello"}}], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4}}}"#;
    for chunk in [1, 7, body.len()] {
        let usage = metered(BodyFormat::Json, body, chunk).usage.unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens
            ),
            (10, 5, 4)
        );
        assert!(usage.success);
    }
}

#[test]
fn responses_api_fields_and_the_clamp() {
    let usage = from_json(
        br#"{"usage": {"input_tokens": 3, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 9}}}"#,
    )
    .unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens
        ),
        (3, 2, 3),
        "cached tokens never exceed the input"
    );
    assert_eq!(from_json(br#"{"usage": null}"#), None);
    assert_eq!(from_json(b"garbage"), None);
}

#[test]
fn the_last_sse_usage_wins_wherever_the_stream_is_split() {
    let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    for chunk in [1, 5, 64, stream.len()] {
        let metered = metered(BodyFormat::EventStream, stream, chunk);
        let usage = metered.usage.unwrap();
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (8, 2),
            "split {chunk}"
        );
        assert_eq!(
            metered.delivered_output_tokens, 1,
            "two bytes of text: one token"
        );
    }
}

#[test]
fn the_responses_api_completed_event_carries_the_usage() {
    let stream = b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hello there\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":5,\"output_tokens\":3,\"output_tokens_details\":{\"reasoning_tokens\":1}}}}\n\n";
    let metered = metered(BodyFormat::EventStream, stream, 9);
    let usage = metered.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (5, 3));
    assert_eq!(metered.delivered_output_tokens, 3, "11 bytes of text");
}

#[test]
fn a_stream_without_usage_counts_the_text_it_delivered() {
    let text = "word ".repeat(40);
    let mut stream = Vec::new();
    for piece in text.as_bytes().chunks(10) {
        let event = serde_json::json!({"choices": [{"delta": {"content": std::str::from_utf8(piece).unwrap()}}]});
        stream.extend_from_slice(format!("data: {event}\n\n").as_bytes());
    }
    let metered = metered(BodyFormat::EventStream, &stream, 13);
    assert_eq!(metered.usage, None);
    assert_eq!(metered.delivered_output_tokens, 50, "200 bytes of text");
}

#[test]
fn a_json_body_without_usage_counts_its_text_or_its_bytes() {
    let known = br#"{"choices": [{"message": {"content": "12345678"}}]}"#;
    let metered = UsageMeter::new(BodyFormat::Json).finish_whole(known);
    assert_eq!((metered.usage, metered.delivered_output_tokens), (None, 2));
    let unknown = br#"{"result": "something of forty bytes or so"}"#;
    let metered = UsageMeter::new(BodyFormat::Json).finish_whole(unknown);
    assert_eq!(
        metered.delivered_output_tokens,
        (unknown.len() as u64).div_ceil(4)
    );
}

#[test]
fn the_content_type_decides_the_format() {
    assert_eq!(
        BodyFormat::of_content_type(Some(b"text/event-stream; charset=utf-8")),
        BodyFormat::EventStream
    );
    assert_eq!(
        BodyFormat::of_content_type(Some(b"Text/Event-Stream")),
        BodyFormat::EventStream
    );
    assert_eq!(
        BodyFormat::of_content_type(Some(b"application/json")),
        BodyFormat::Json
    );
    assert_eq!(BodyFormat::of_content_type(None), BodyFormat::Json);
}

#[test]
fn a_usage_without_counters_reports_nothing() {
    assert_eq!(from_json(br#"{"usage": {}}"#), None);
    assert_eq!(from_json(br#"{"usage": {"total_tokens": 30}}"#), None);
    let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"12345678\"}}]}\n\ndata: {\"choices\":[],\"usage\":{}}\n\n";
    let metered = metered(BodyFormat::EventStream, stream, 7);
    assert_eq!(metered.usage, None, "an empty usage is no report");
    assert_eq!(metered.delivered_output_tokens, 2);
}

#[test]
fn reasoning_refusals_and_legacy_function_calls_count_as_delivered() {
    let stream = b"data: {\"choices\":[{\"delta\":{\"reasoning\":\"12345678\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"refusal\":\"1234\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"function_call\":{\"name\":\"f\",\"arguments\":\"123\"}}}]}\n\n";
    let metered = metered(BodyFormat::EventStream, stream, 11);
    assert_eq!(metered.delivered_output_tokens, 4, "16 bytes of text");
}

#[test]
fn an_absurd_usage_is_no_usage_and_the_delivered_text_is_charged() {
    let body = br#"{"choices": [{"message": {"content": "hello"}}], "usage": {"prompt_tokens": 10, "completion_tokens": 18446744073709551615}}"#;
    let read = metered(BodyFormat::Json, body, body.len());
    assert!(read.usage.is_none(), "{:?}", read.usage);
    assert_eq!(read.delivered_output_tokens, 2, "hello: five bytes");
    let plausible = br#"{"usage": {"prompt_tokens": 100000000, "completion_tokens": 1}}"#;
    assert!(from_json(plausible).is_some());
    let past = br#"{"usage": {"prompt_tokens": 100000001, "completion_tokens": 1}}"#;
    assert!(from_json(past).is_none());
}
