import Testing

@testable import TaskWatch

@Suite("PendingHint")
struct PendingHintUnitTests {
  @Test(
    "Celery's id form is a UUID, in either case",
    arguments: [
      ("d9b1e1a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b", true), ("D9B1E1A2-3C4D-4E5F-8A9B-0C1D2E3F4A5B", true),
      ("d9b1e1a2-3c4d-4e5f-8a9b-0c1d2e3f4a5", false), ("d9b1e1a2_3c4d-4e5f-8a9b-0c1d2e3f4a5b", false),
      ("g9b1e1a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b", false), ("tasks.add", false), ("", false),
    ])
  func celeryID(id: String, expected: Bool) {
    #expect(PendingHint.isCeleryID(id) == expected)
  }

  @Test("each hint has its own cause, and the diagnostic says the hint")
  func causes() {
    let hints: [PendingHint] = [
      .groupID(taskID: "g", groupKey: "celery-taskset-meta-g"), .otherDatabase(taskID: "t", database: 0, foundIn: [1]),
      .notCeleryID(taskID: "x", count: 1), .nothingStored(taskID: "t", count: 1, seconds: 10),
      .groupNotSaved(groupID: "g", count: 1, seconds: 10),
    ]
    #expect(Set(hints.map(\.cause)) == Set(PendingHint.Cause.allCases))
    #expect(hints.allSatisfy { ConsumerDiagnostic.pendingHint($0).description == $0.description })
    #expect(hints[1].description.contains("database 0, but database 1 has one"))
    #expect(hints[3].description.contains("PENDING for 10s"))
  }
}
