export interface ScenarioResult {
  result: Record<string, unknown>;
  table: Record<string, unknown>[];
  /** Pass/fail-relevant problems seen by the scenario (losses, failures): printed and stored. */
  problems?: string[];
}
