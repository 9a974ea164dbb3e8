"""One conversation: Session (client commands), Listening (turns heard), Replies (turns
spoken), Turn (think -> chunk -> speak), Speaker (paced audio), and the events they emit."""
