/**
 * Pods as the leader label sees them: the API path of a pod, and the items of a pod list — each
 * pod's name and the lease its `leader-of` annotation names.
 *
 * Guarantees: `podsOf` never fails: an answer that is not a list, an item without a name or with
 * annotations that are not an object are skipped or read as unannotated.
 * Does not: send requests (`objectRequest.ts`) or decide which pods to unlabel (`LeaderLabel.ts`).
 *
 * @internal
 */

/** The API path of a pod. */
export const podPath = (pod: { readonly name: string; readonly namespace: string }) =>
  `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}`

/** One pod of a list: its name, and the lease (`NAMESPACE/NAME`) its `leaderOfAnnotation` names. */
export interface PodItem {
  readonly name: string
  readonly leaderOf: string | undefined
}

/** The pods of a pod list answer (`items[].metadata`). */
export const podsOf = (answer: unknown, leaderOfAnnotation: string): ReadonlyArray<PodItem> => {
  const items = typeof answer === "object" && answer !== null && "items" in answer && Array.isArray(answer.items)
    ? answer.items as ReadonlyArray<unknown>
    : []
  const result: Array<PodItem> = []
  for (const item of items) {
    const metadata = typeof item === "object" && item !== null && "metadata" in item ? item.metadata : undefined
    if (typeof metadata !== "object" || metadata === null) continue
    const name = "name" in metadata && typeof metadata.name === "string" ? metadata.name : undefined
    if (name === undefined) continue
    const annotations = "annotations" in metadata && typeof metadata.annotations === "object" && metadata.annotations !== null
      ? metadata.annotations as Record<string, unknown>
      : {}
    const leaderOf = annotations[leaderOfAnnotation]
    result.push({ name, leaderOf: typeof leaderOf === "string" ? leaderOf : undefined })
  }
  return result
}
